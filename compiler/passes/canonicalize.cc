// canonicalize: local simplifications that put the IR in a simpler, standard
// form so later passes see fewer shapes of the same thing:
//   transpose(x, a, a)                  -> x
//   transpose(transpose(x, a, b), a, b) -> x   (either order of a, b)
//   permute(x, identity)                -> x
//   permute(permute(x, p), q)           -> permute(x, p o q)
//   reshape/flatten(reshape/flatten(x)) -> reshape(x)
//   reshape/flatten to the same type    -> x
//   mul_scalar(x, 1.0) on f32 x         -> x
// Runs the patterns to a fixed point, then erases ops its rewrites left dead.
// A new pattern is a function in the table at the bottom.
#include <memory>
#include <optional>
#include <vector>

#include "base/check.h"
#include "compiler/passes/passes.h"
#include "compiler/passes/rewrite.h"

namespace spk::compiler::passes {
namespace {

using Pattern = bool (*)(ir::Operation* op);

std::optional<int> NormDim(int64_t dim, int rank) {
  if (dim < -rank || dim >= rank) return std::nullopt;
  return static_cast<int>(dim < 0 ? dim + rank : dim);
}

// Replaces op by `value`, then erases what that left dead.
bool Replace(ir::Operation* op, ir::Value* value) {
  ir::Operation* producer = value->def();
  std::vector<ir::Operation*> inputs;
  for (ir::Value* v : op->operands()) inputs.push_back(v->def());
  ReplaceOpWith(op, value);
  for (ir::Operation* in : inputs) {
    if (in != producer) EraseIfDead(in);
  }
  return true;
}

// Creates `name`(operand){attrs} before op with op's location and replaces op.
bool ReplaceWithNew(ir::Operation* op, std::string_view name, ir::Value* operand,
                    ir::AttrDict attrs) {
  ir::Value* operands[] = {operand};
  auto created = op->module()->CreateInferred(name, operands, std::move(attrs), op->loc(), op);
  SPK_CHECK_OK(created.status());
  SPK_CHECK(created.value()->result(0)->type() == op->result(0)->type())
      << "canonicalization changed a type";
  return Replace(op, created.value()->result(0));
}

std::optional<std::pair<int, int>> TransposeDims(const ir::Operation& op) {
  int rank = op.operand(0)->type().full_rank();
  auto a = NormDim(*op.attrs().GetInt("dim0"), rank);
  auto b = NormDim(*op.attrs().GetInt("dim1"), rank);
  if (!a || !b) return std::nullopt;
  return std::make_pair(std::min(*a, *b), std::max(*a, *b));
}

bool FoldTranspose(ir::Operation* op) {
  if (op->name() != "transpose") return false;
  auto dims = TransposeDims(*op);
  if (!dims) return false;
  if (dims->first == dims->second) return Replace(op, op->operand(0));
  ir::Operation* inner = op->operand(0)->def();
  if (inner->name() == "transpose" && TransposeDims(*inner) == dims) {
    return Replace(op, inner->operand(0));
  }
  return false;
}

std::optional<std::vector<int>> Permutation(const ir::Operation& op) {
  int rank = op.operand(0)->type().full_rank();
  std::vector<int> perm;
  for (int64_t d : *op.attrs().GetIntList("dims")) {
    auto n = NormDim(d, rank);
    if (!n) return std::nullopt;
    perm.push_back(*n);
  }
  return perm;
}

bool IsIdentity(const std::vector<int>& perm) {
  for (size_t i = 0; i < perm.size(); ++i) {
    if (perm[i] != static_cast<int>(i)) return false;
  }
  return true;
}

bool FoldPermute(ir::Operation* op) {
  if (op->name() != "permute") return false;
  auto outer = Permutation(*op);
  if (!outer) return false;
  if (IsIdentity(*outer)) return Replace(op, op->operand(0));
  ir::Operation* inner_op = op->operand(0)->def();
  if (inner_op->name() != "permute") return false;
  auto inner = Permutation(*inner_op);
  if (!inner) return false;
  // out[i] = mid[outer[i]] = x[inner[outer[i]]]
  std::vector<int64_t> composed;
  std::vector<int> composed_int;
  for (int i : *outer) {
    composed.push_back((*inner)[static_cast<size_t>(i)]);
    composed_int.push_back((*inner)[static_cast<size_t>(i)]);
  }
  if (IsIdentity(composed_int)) return Replace(op, inner_op->operand(0));
  return ReplaceWithNew(op, "permute", inner_op->operand(0),
                        ir::MakeAttrs({{"dims", ir::Attribute::IntList(composed)}}));
}

bool IsReshapeLike(const ir::Operation& op) {
  return op.name() == "reshape" || op.name() == "flatten";
}

bool FoldReshape(ir::Operation* op) {
  if (!IsReshapeLike(*op)) return false;
  if (op->result(0)->type() == op->operand(0)->type()) return Replace(op, op->operand(0));
  ir::Operation* inner = op->operand(0)->def();
  if (!IsReshapeLike(*inner)) return false;
  ir::Value* source = inner->operand(0);
  if (source->type() == op->result(0)->type()) return Replace(op, source);
  return ReplaceWithNew(
      op, "reshape", source,
      ir::MakeAttrs({{"shape", ir::Attribute::IntList(op->result(0)->type().dims())}}));
}

bool FoldMulByOne(ir::Operation* op) {
  if (op->name() != "mul_scalar" || *op->attrs().GetFloat("scalar") != 1.0) return false;
  if (op->operand(0)->type() != op->result(0)->type()) return false;
  return Replace(op, op->operand(0));
}

constexpr Pattern kPatterns[] = {FoldTranspose, FoldPermute, FoldReshape, FoldMulByOne};

class CanonicalizePass : public Pass {
 public:
  static constexpr std::string_view kName = "canonicalize";
  static constexpr std::string_view kSummary =
      "simplify transpose/permute/reshape chains and identity ops";

  std::string_view name() const override { return kName; }
  std::string_view summary() const override { return kSummary; }

  Status Run(ir::Module& module, PassContext&) override {
    // A rewrite only erases the op it visits and producers of it, which come
    // earlier; ops it creates go before the visited op. So a forward walk over
    // a snapshot never meets an erased op, and new ops are seen next round.
    // Each rewrite removes an op or shortens a chain, so rounds are bounded.
    for (size_t round = 0; round <= module.num_ops(); ++round) {
      bool changed = false;
      for (ir::Operation* op : module.OpsSnapshot()) {
        for (Pattern pattern : kPatterns) {
          if (pattern(op)) {
            changed = true;
            break;
          }
        }
      }
      if (!changed) return Status::Ok();
    }
    return InternalError("canonicalize did not reach a fixed point");
  }
};

}  // namespace

void RegisterCanonicalizePass(PassRegistry& registry) {
  SPK_CHECK_OK(registry.Register({.name = std::string(CanonicalizePass::kName),
                                  .summary = std::string(CanonicalizePass::kSummary),
                                  .create = [] { return std::make_unique<CanonicalizePass>(); },
                                  .slots = {{kStageCleanup, 1}, {kStageFinalCleanup, 1}}}));
}

}  // namespace spk::compiler::passes
