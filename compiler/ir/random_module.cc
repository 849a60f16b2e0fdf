#include "compiler/ir/random_module.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "base/check.h"

namespace spk::compiler::ir::testing {
namespace {

class Generator {
 public:
  Generator(uint64_t seed, const RandomModuleOptions& options)
      : rng_(seed), options_(options), module_(std::make_unique<Module>()) {}

  std::unique_ptr<Module> Build() {
    module_->set_name(Pick<std::string>({"", "net", "spikformer", "odd name", "a\"b", "m.v1"}));
    if (Chance(0.8)) module_->mutable_attrs().Set("timesteps", Attribute::Int(Int(1, 16)));
    if (Chance(0.3)) module_->mutable_attrs().Set("spk.note", RandomAttr());
    int inputs = Int(1, 3);
    for (int i = 0; i < inputs; ++i) AddInput(i);
    for (int i = 0; i < options_.num_ops; ++i) AddRandomOp();
    int outputs = Int(1, 3);
    for (int i = 0; i < outputs; ++i) {
      Value* v = AnyValue();
      module_->CreateOp("output", {&v, 1}, {},
                        MakeAttrs({{"name", Attribute::String("out" + std::to_string(i))}}),
                        RandomLoc());
    }
    return std::move(module_);
  }

 private:
  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  template <typename T>
  T Pick(std::vector<T> options) {
    return options[static_cast<size_t>(Int(0, static_cast<int>(options.size()) - 1))];
  }

  double TrickyDouble() {
    switch (Int(0, 9)) {
      case 0:
        return -0.0;
      case 1:
        return std::numeric_limits<double>::denorm_min();
      case 2:
        return std::numeric_limits<double>::max();
      case 3:
        return std::numeric_limits<double>::lowest();
      case 4:
        return 0.1;
      case 5:
        return 1.0 / 3.0;
      case 6:
        return std::numeric_limits<double>::infinity();
      case 7:
        return std::ldexp(1.0, Int(-1074, 1023));
      default:
        return std::uniform_real_distribution<double>(-1e6, 1e6)(rng_);
    }
  }

  float TrickyFloat() {
    switch (Int(0, 9)) {
      case 0:
        return -0.0f;
      case 1:
        return std::numeric_limits<float>::denorm_min();
      case 2:
        return std::numeric_limits<float>::max();
      case 3:
        return std::numeric_limits<float>::lowest();
      case 4:
        return 0.1f;
      case 5:
        return -std::numeric_limits<float>::infinity();
      case 6:
        return std::numeric_limits<float>::quiet_NaN();
      default:
        return std::uniform_real_distribution<float>(-2.0f, 2.0f)(rng_);
    }
  }

  std::string RandomString() {
    return Pick<std::string>({"", "x", "blocks.0.attn.q_lif", "with \"quotes\"", "back\\slash",
                              "new\nline\ttab", "\x01\x7f", "unicode \xce\xbc", "model.py"});
  }

  Attribute RandomAttr() {
    switch (Int(0, 6)) {
      case 0:
        return Attribute::Int(Pick<int64_t>(
            {0, -1, 7, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()}));
      case 1:
        return Attribute::Float(TrickyDouble());
      case 2:
        return Attribute::String(RandomString());
      case 3:
        return Attribute::Bool(Chance(0.5));
      case 4: {
        std::vector<int64_t> v(static_cast<size_t>(Int(0, 4)));
        for (auto& x : v) x = Int(-100, 100);
        return Attribute::IntList(v);
      }
      case 5: {
        std::vector<double> v(static_cast<size_t>(Int(1, 4)));
        for (auto& x : v) x = TrickyDouble();
        return Attribute::FloatList(v);
      }
      default:
        if (module_->constants().empty()) return Attribute::Bool(true);
        return Attribute::Ref(module_
                                  ->constants()[static_cast<size_t>(
                                      Int(0, static_cast<int>(module_->constants().size()) - 1))]
                                  ->name());
    }
  }

  Location RandomLoc() {
    Location loc;
    if (Chance(0.3)) return loc;
    if (Chance(0.7)) {
      loc.file = Pick<std::string>({"model.py", "dir/with space.py", "q\"uote.py"});
      loc.line = Int(1, 5000);
      loc.col = Int(0, 120);
    }
    if (Chance(0.6)) loc.module_path = RandomString();
    if (Chance(0.3)) loc.op_name = Pick<std::string>({"aten::linear", "prim::CallMethod"});
    return loc;
  }

  std::string ConstantName() {
    return Pick<std::string>({"w", "layer.weight", "blocks.0.fc1.bias", "odd name", "7"}) + "." +
           std::to_string(next_constant_++);
  }

  Constant* AddF32(std::vector<int64_t> dims) {
    size_t n = static_cast<size_t>(*CheckedNumElements(dims));
    std::vector<float> data(n);
    for (float& f : data)
      f = Chance(0.2) ? TrickyFloat() : std::uniform_real_distribution<float>(-1, 1)(rng_);
    return *module_->AddConstant(ConstantName(), Type::Untimed(ElementType::kF32, dims),
                                 TensorData(std::move(data)));
  }

  Constant* AddInt(ElementType e, std::vector<int64_t> dims, int lo, int hi) {
    size_t n = static_cast<size_t>(*CheckedNumElements(dims));
    TensorData data = TensorData::Zeros(e, n);
    for (size_t i = 0; i < n; ++i) {
      int v = Int(lo, hi);
      if (e == ElementType::kI8) data.mutable_i8()[i] = static_cast<int8_t>(v);
      if (e == ElementType::kI16) data.mutable_i16()[i] = static_cast<int16_t>(v);
      if (e == ElementType::kI32) data.mutable_i32()[i] = v;
    }
    return *module_->AddConstant(ConstantName(), Type::Untimed(e, dims), std::move(data));
  }

  int64_t Dim() { return Int(1, options_.max_dim); }

  Operation* Create(std::string_view name, std::vector<Value*> operands, AttrDict attrs) {
    if (Chance(0.15)) attrs.Set("spk.tag", RandomAttr());
    auto op = module_->CreateInferred(name, operands, std::move(attrs), RandomLoc());
    if (!op.ok()) return nullptr;
    for (size_t i = 0; i < (*op)->num_results(); ++i) values_.push_back((*op)->result(i));
    return *op;
  }

  void AddInput(int index) {
    std::vector<int64_t> dims = {1, Dim()};
    if (Chance(0.3)) dims = {1, Dim(), Dim() + 2, Dim() + 2};
    ElementType e = Pick<ElementType>({ElementType::kF32, ElementType::kSpike});
    const OpDef* def = module_->registry().Find("input");
    Operation* op = module_->CreateOp(
        *def, {}, {Type(e, Chance(0.5), dims)},
        MakeAttrs({{"name", Attribute::String("in" + std::to_string(index))}}), RandomLoc());
    values_.push_back(op->result(0));
  }

  Value* AnyValue() {
    return values_[static_cast<size_t>(Int(0, static_cast<int>(values_.size()) - 1))];
  }

  // A value matching `pred`, or null.
  Value* Find(const std::function<bool(const Type&)>& pred) {
    std::vector<Value*> fits;
    for (Value* v : values_) {
      if (pred(v->type())) fits.push_back(v);
    }
    if (fits.empty()) return nullptr;
    return fits[static_cast<size_t>(Int(0, static_cast<int>(fits.size()) - 1))];
  }

  static bool IsActivation(const Type& t) {
    return t.element() == ElementType::kF32 || t.element() == ElementType::kSpike ||
           t.element() == ElementType::kGraded;
  }

  void AddRandomOp() {
    switch (Int(0, 18)) {
      case 0: {  // linear
        Value* x = Find([](const Type& t) { return IsActivation(t) && t.rank() >= 1; });
        if (!x) return;
        Constant* w = AddF32({Dim(), x->type().dims().back()});
        AttrDict attrs = MakeAttrs({{"weight", Attribute::Ref(w->name())}});
        if (Chance(0.5)) attrs.Set("bias", Attribute::Ref(AddF32({w->type().dim(0)})->name()));
        Create("linear", {x}, attrs);
        return;
      }
      case 1: {  // lif / if_neuron
        Value* x = Find([](const Type& t) { return IsActivation(t) && t.timed(); });
        if (!x) return;
        if (Chance(0.5)) {
          Create("lif", {x},
                 MakeAttrs({{"tau", Attribute::Float(Pick<double>({2.0, 1.5, 10.0}))},
                            {"v_threshold", Attribute::Float(Pick<double>({1.0, 0.5, 0.1}))},
                            {"decay_input", Attribute::Bool(Chance(0.5))}}));
        } else {
          Create("if_neuron", {x}, MakeAttrs({{"v_threshold", Attribute::Float(1.0)}}));
        }
        return;
      }
      case 2: {
        Value* x = Find([](const Type& t) { return IsActivation(t) && !t.timed(); });
        if (x) Create("repeat_t", {x}, {});
        return;
      }
      case 3: {  // add / mul with itself or a same-typed value
        Value* x = AnyValue();
        if (x->type().element() == ElementType::kState) return;
        Value* y = Find([&](const Type& t) {
          return t.dims() == x->type().dims() && t.element() != ElementType::kState;
        });
        Create(Chance(0.5) ? "add" : "mul", {x, y ? y : x}, {});
        return;
      }
      case 4: {
        Value* x = AnyValue();
        Create("mul_scalar", {x},
               MakeAttrs({{"scalar", Attribute::Float(Pick<double>({0.125, 1.0, -0.0, 3.0}))}}));
        return;
      }
      case 5: {
        Value* x = Find([](const Type& t) { return t.rank() >= 2; });
        if (!x) return;
        int base = x->type().timed() ? 1 : 0;
        Create("transpose", {x},
               MakeAttrs({{"dim0", Attribute::Int(base + Int(0, x->type().rank() - 1))},
                          {"dim1", Attribute::Int(-1)}}));
        return;
      }
      case 6: {
        Value* x = AnyValue();
        Create(
            "reshape", {x},
            MakeAttrs({{"shape", Attribute::IntList(Chance(0.5) ? std::vector<int64_t>{-1}
                                                                : std::vector<int64_t>{1, -1})}}));
        return;
      }
      case 7: {
        Value* x = Find([](const Type& t) { return t.full_rank() >= 2; });
        if (!x) return;
        Create(Chance(0.5) ? "sum" : "mean", {x},
               MakeAttrs({{"dims", Attribute::IntList({Int(0, x->type().full_rank() - 1)})},
                          {"keepdim", Attribute::Bool(Chance(0.3))}}));
        return;
      }
      case 8: {
        Constant* c = Chance(0.5) ? AddF32({Dim(), Dim()})
                                  : AddInt(Pick<ElementType>({ElementType::kI8, ElementType::kI16,
                                                              ElementType::kI32}),
                                           {Dim()}, -128, 127);
        Create("const", {}, MakeAttrs({{"value", Attribute::Ref(c->name())}}));
        return;
      }
      case 9: {
        Value* x = Find([](const Type& t) { return IsActivation(t) && t.rank() >= 2; });
        if (!x) return;
        int64_t c = x->type().dim(1);
        AttrDict attrs = MakeAttrs({{"mean", Attribute::Ref(AddF32({c})->name())},
                                    {"var", Attribute::Ref(AddF32({c})->name())},
                                    {"eps", Attribute::Float(1e-5)}});
        if (Chance(0.5)) attrs.Set("weight", Attribute::Ref(AddF32({c})->name()));
        Create("batch_norm", {x}, attrs);
        return;
      }
      case 10: {
        Value* x = Find([](const Type& t) { return IsActivation(t) && t.rank() == 4; });
        if (!x) return;
        Constant* w = AddF32({Dim(), x->type().dim(1), 3, 3});
        Create("conv2d", {x},
               MakeAttrs({{"weight", Attribute::Ref(w->name())},
                          {"padding", Attribute::IntList({1, 1})},
                          {"stride", Attribute::IntList({1, Int(1, 2)})}}));
        return;
      }
      case 11: {
        Value* x = Find([](const Type& t) { return IsActivation(t) && t.rank() == 4; });
        if (x) {
          Create(Chance(0.5) ? "max_pool2d" : "avg_pool2d", {x},
                 MakeAttrs({{"kernel_size", Attribute::IntList({2, 2})},
                            {"ceil_mode", Attribute::Bool(Chance(0.5))}}));
        }
        return;
      }
      case 12: {  // syn_dense -> cuba_lif
        Value* x = Find([](const Type& t) {
          return t.timed() && t.rank() >= 1 &&
                 (t.element() == ElementType::kSpike || t.element() == ElementType::kGraded);
        });
        if (!x) return;
        Constant* w = AddInt(ElementType::kI8, {Dim(), x->type().dims().back()}, -128, 127);
        Operation* syn = Create("syn_dense", {x},
                                MakeAttrs({{"weight", Attribute::Ref(w->name())},
                                           {"weight_exp", Attribute::Int(Int(-8, 7))},
                                           {"num_weight_bits", Attribute::Int(Int(1, 8))}}));
        if (syn == nullptr) return;
        AttrDict attrs = MakeAttrs({{"du", Attribute::Int(4095)},
                                    {"dv", Attribute::Int(Int(0, 4095))},
                                    {"vth", Attribute::Int(Int(0, 1000))}});
        if (Chance(0.5)) {
          Constant* b =
              AddInt(ElementType::kI16, {syn->result(0)->type().num_elements()}, -4096, 4095);
          attrs.Set("bias_mant", Attribute::Ref(b->name()));
          attrs.Set("bias_exp", Attribute::Int(Int(-7, 7)));
        }
        switch (Int(0, 2)) {
          case 0:
            Create("cuba_lif", {syn->result(0)}, attrs);
            break;
          case 1:
            Create("accumulate", {syn->result(0)},
                   MakeAttrs({{"dv", Attribute::Int(Int(0, 4095))}}));
            break;
          default:
            Create("relay", {syn->result(0)}, {});
            break;
        }
        return;
      }
      case 13: {  // host with several results and open attributes
        std::vector<Value*> operands;
        int n = Int(0, 2);
        for (int i = 0; i < n; ++i) operands.push_back(AnyValue());
        const OpDef* def = module_->registry().Find("host");
        AttrDict attrs = MakeAttrs({{"op", Attribute::String("spike_matmul")},
                                    {"heads", Attribute::Int(Int(1, 12))},
                                    {"scale", Attribute::Float(TrickyDouble())}});
        std::vector<Type> results;
        int r = Int(0, 2);
        for (int i = 0; i < r; ++i) {
          results.push_back(Type(
              Pick<ElementType>({ElementType::kF32, ElementType::kGraded, ElementType::kState}),
              Chance(0.5), {Dim(), Dim()}));
        }
        Operation* op = module_->CreateOp(*def, operands, results, attrs, RandomLoc());
        for (size_t i = 0; i < op->num_results(); ++i) values_.push_back(op->result(i));
        return;
      }
      case 14: {
        Value* x =
            Find([](const Type& t) { return t.rank() >= 2 && t.element() != ElementType::kState; });
        if (x) Create("matmul", {x, x}, MakeAttrs({{"transpose_b", Attribute::Bool(true)}}));
        return;
      }
      case 15: {
        Value* x = Find([](const Type& t) { return t.rank() >= 2; });
        if (!x) return;
        int base = x->type().timed() ? 1 : 0;
        Create("flatten", {x},
               MakeAttrs({{"start_dim", Attribute::Int(base)},
                          {"end_dim", Attribute::Int(base + Int(0, x->type().rank() - 1))}}));
        return;
      }
      case 16: {  // two synapse tables into a coincidence neuron
        Value* x = Find([](const Type& t) {
          return t.timed() && t.rank() >= 1 && t.element() == ElementType::kSpike;
        });
        if (!x) return;
        Constant* w = AddInt(ElementType::kI16, {Dim(), x->type().dims().back()}, -256, 255);
        AttrDict attrs =
            MakeAttrs({{"weight", Attribute::Ref(w->name())}, {"weight_exp", Attribute::Int(0)}});
        Operation* a = Create("syn_dense", {x}, attrs);
        Operation* b = Create("syn_dense", {x}, attrs);
        if (a && b) Create("and2", {a->result(0), b->result(0)}, {});
        return;
      }
      case 17: {
        Value* x = Find([](const Type& t) {
          return t.timed() && t.rank() == 4 && t.element() == ElementType::kSpike;
        });
        if (!x) return;
        Constant* w = AddInt(ElementType::kI8, {Dim(), x->type().dim(1), 1, 3}, -128, 127);
        Create("syn_conv2d", {x},
               MakeAttrs({{"weight", Attribute::Ref(w->name())},
                          {"padding", Attribute::IntList({0, 1})},
                          {"weight_exp", Attribute::Int(Int(-8, 7))}}));
        return;
      }
      case 18: {  // CSR synapses: in -> out, one synapse per input
        Value* x = Find([](const Type& t) {
          return t.timed() && t.rank() >= 1 && t.element() == ElementType::kSpike;
        });
        if (!x) return;
        int64_t in = x->type().dims().back();
        int64_t out = Dim();
        std::vector<int32_t> rows(static_cast<size_t>(in + 1)), cols(static_cast<size_t>(in));
        for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int32_t>(i);
        for (auto& c : cols) c = Int(0, static_cast<int>(out) - 1);
        Constant* r =
            *module_->AddConstant(ConstantName(), Type::Untimed(ElementType::kI32, {in + 1}),
                                  TensorData(std::move(rows)));
        Constant* c = *module_->AddConstant(ConstantName(), Type::Untimed(ElementType::kI32, {in}),
                                            TensorData(std::move(cols)));
        Constant* w = AddInt(ElementType::kI8, {in}, -128, 127);
        Create("syn_sparse", {x},
               MakeAttrs({{"row_ptr", Attribute::Ref(r->name())},
                          {"col", Attribute::Ref(c->name())},
                          {"weight", Attribute::Ref(w->name())},
                          {"out_features", Attribute::Int(out)},
                          {"weight_exp", Attribute::Int(0)}}));
        return;
      }
      default: {
        Value* x = Find([](const Type& t) { return t.rank() >= 2; });
        if (!x) return;
        std::vector<int64_t> dims;
        int full = x->type().full_rank();
        for (int i = 0; i < full; ++i) dims.push_back(i);
        int start = x->type().timed() ? 1 : 0;
        std::shuffle(dims.begin() + start, dims.end(), rng_);
        Create("permute", {x}, MakeAttrs({{"dims", Attribute::IntList(dims)}}));
        return;
      }
    }
  }

  std::mt19937_64 rng_;
  RandomModuleOptions options_;
  std::unique_ptr<Module> module_;
  std::vector<Value*> values_;
  int next_constant_ = 0;
};

}  // namespace

std::unique_ptr<Module> RandomModule(uint64_t seed, const RandomModuleOptions& options) {
  return Generator(seed, options).Build();
}

}  // namespace spk::compiler::ir::testing
