// Op and module attributes: small typed values attached by name.
//
// Kinds: int (int64), float (double), string, bool, int list, float list and
// a constant reference (`@name`, a module-level constant tensor). Floats are
// printed in the shortest form that reads back to the same bits, so every
// attribute round-trips through the text form exactly.
//
// Attribute names without a dot are defined by the op (see OpDef); names with
// a dot ("partition.core") are free-form annotations that passes may attach
// to any op and that ops ignore.
//
// Thread safety: plain values.
#ifndef SPK_COMPILER_IR_ATTRIBUTES_H_
#define SPK_COMPILER_IR_ATTRIBUTES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace spk::compiler::ir {

enum class AttrKind : uint8_t { kInt, kFloat, kString, kBool, kIntList, kFloatList, kConstRef };

std::string_view AttrKindName(AttrKind kind);  // "int", "float list", ...

struct ConstRef {
  std::string name;
  friend bool operator==(const ConstRef& a, const ConstRef& b) = default;
};

class Attribute {
 public:
  static Attribute Int(int64_t v) { return Attribute(Rep(std::in_place_index<0>, v)); }
  static Attribute Float(double v) { return Attribute(Rep(std::in_place_index<1>, v)); }
  static Attribute String(std::string v) {
    return Attribute(Rep(std::in_place_index<2>, std::move(v)));
  }
  static Attribute Bool(bool v) { return Attribute(Rep(std::in_place_index<3>, v)); }
  static Attribute IntList(std::vector<int64_t> v) {
    return Attribute(Rep(std::in_place_index<4>, std::move(v)));
  }
  static Attribute FloatList(std::vector<double> v) {
    return Attribute(Rep(std::in_place_index<5>, std::move(v)));
  }
  static Attribute Ref(std::string name) {
    return Attribute(Rep(std::in_place_index<6>, ConstRef{std::move(name)}));
  }

  AttrKind kind() const { return static_cast<AttrKind>(rep_.index()); }

  // Accessors check the kind (a wrong kind is a programmer error).
  int64_t AsInt() const;
  double AsFloat() const;
  const std::string& AsString() const;
  bool AsBool() const;
  const std::vector<int64_t>& AsIntList() const;
  const std::vector<double>& AsFloatList() const;
  const std::string& AsRef() const;

  // Exact equality; floats compare by bits, so NaN equals itself and
  // -0.0 differs from 0.0.
  friend bool operator==(const Attribute& a, const Attribute& b);

 private:
  using Rep = std::variant<int64_t, double, std::string, bool, std::vector<int64_t>,
                           std::vector<double>, ConstRef>;
  explicit Attribute(Rep rep) : rep_(std::move(rep)) {}
  Rep rep_;
};

// Attributes of one op or module, kept sorted by name (so printing and
// comparison do not depend on insertion order).
class AttrDict {
 public:
  using Entry = std::pair<std::string, Attribute>;

  const Attribute* Find(std::string_view name) const;
  bool Has(std::string_view name) const { return Find(name) != nullptr; }
  void Set(std::string_view name, Attribute value);
  bool Erase(std::string_view name);

  // Typed reads; nullopt when absent or of another kind.
  std::optional<int64_t> GetInt(std::string_view name) const;
  std::optional<double> GetFloat(std::string_view name) const;
  std::optional<bool> GetBool(std::string_view name) const;
  const std::string* GetString(std::string_view name) const;
  const std::string* GetRef(std::string_view name) const;
  const std::vector<int64_t>* GetIntList(std::string_view name) const;
  const std::vector<double>* GetFloatList(std::string_view name) const;

  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  std::vector<Entry>::const_iterator begin() const { return entries_.begin(); }
  std::vector<Entry>::const_iterator end() const { return entries_.end(); }

  friend bool operator==(const AttrDict& a, const AttrDict& b) = default;

 private:
  std::vector<Entry> entries_;
};

// Builds an AttrDict from a list: AttrDict d = MakeAttrs({{"tau", Attribute::Float(2)}}).
AttrDict MakeAttrs(std::vector<AttrDict::Entry> entries);

// Number formatting shared by the printer: the shortest text that reads back
// to the same value. Doubles and floats always contain '.', 'e', "inf" or
// "nan", so they never read back as integers.
void AppendDouble(std::string& out, double value);
void AppendFloat(std::string& out, float value);
void AppendInt(std::string& out, int64_t value);

}  // namespace spk::compiler::ir

#endif  // SPK_COMPILER_IR_ATTRIBUTES_H_
