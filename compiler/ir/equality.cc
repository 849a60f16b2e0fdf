#include "compiler/ir/equality.h"

#include <unordered_map>
#include <utility>

#include "compiler/ir/printer.h"

namespace spk::compiler::ir {
namespace {

using ValueKey = std::pair<size_t, size_t>;  // (op index, result index)

std::unordered_map<const Value*, ValueKey> NumberValues(const Module& m) {
  std::unordered_map<const Value*, ValueKey> keys;
  size_t index = 0;
  for (const auto& op : m.ops()) {
    for (size_t i = 0; i < op->num_results(); ++i) keys[op->result(i)] = {index, i};
    ++index;
  }
  return keys;
}

bool Fail(std::string* difference, std::string message) {
  if (difference != nullptr) *difference = std::move(message);
  return false;
}

}  // namespace

bool StructurallyEqual(const Module& a, const Module& b, std::string* difference) {
  if (a.name() != b.name()) return Fail(difference, "module names differ");
  if (!(a.attrs() == b.attrs())) return Fail(difference, "module attributes differ");
  if (a.constants().size() != b.constants().size()) {
    return Fail(difference, "constant counts differ: " + std::to_string(a.constants().size()) +
                                " vs " + std::to_string(b.constants().size()));
  }
  for (size_t i = 0; i < a.constants().size(); ++i) {
    const Constant& x = *a.constants()[i];
    const Constant& y = *b.constants()[i];
    if (x.name() != y.name() || x.type() != y.type() || !(x.data() == y.data())) {
      return Fail(difference, "constant #" + std::to_string(i) + " differs: @" + x.name() + " " +
                                  x.type().ToString() + " vs @" + y.name() + " " +
                                  y.type().ToString());
    }
  }
  if (a.num_ops() != b.num_ops()) {
    return Fail(difference, "op counts differ: " + std::to_string(a.num_ops()) + " vs " +
                                std::to_string(b.num_ops()));
  }
  auto keys_a = NumberValues(a);
  auto keys_b = NumberValues(b);
  auto it_b = b.ops().begin();
  size_t index = 0;
  for (auto it_a = a.ops().begin(); it_a != a.ops().end(); ++it_a, ++it_b, ++index) {
    const Operation& x = **it_a;
    const Operation& y = **it_b;
    auto differ = [&](std::string_view what) {
      return Fail(difference, "op #" + std::to_string(index) + " ('" + x.name() +
                                  "'): " + std::string(what) + " differ:\n  " + PrintOp(x) +
                                  "\n  " + PrintOp(y));
    };
    if (x.name() != y.name()) return differ("names");
    if (!(x.attrs() == y.attrs())) return differ("attributes");
    if (!(x.loc() == y.loc())) return differ("locations");
    if (x.num_results() != y.num_results()) return differ("result counts");
    for (size_t i = 0; i < x.num_results(); ++i) {
      if (x.result(i)->type() != y.result(i)->type()) return differ("result types");
    }
    if (x.num_operands() != y.num_operands()) return differ("operand counts");
    for (size_t i = 0; i < x.num_operands(); ++i) {
      auto ka = keys_a.find(x.operand(i));
      auto kb = keys_b.find(y.operand(i));
      bool found_a = ka != keys_a.end(), found_b = kb != keys_b.end();
      if (found_a != found_b || (found_a && ka->second != kb->second)) return differ("operands");
    }
  }
  return true;
}

}  // namespace spk::compiler::ir
