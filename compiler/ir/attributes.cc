#include "compiler/ir/attributes.h"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>

#include "base/check.h"

namespace spk::compiler::ir {
namespace {

template <typename F>
void AppendFloating(std::string& out, F value) {
  if (std::isnan(value)) {
    out += std::signbit(value) ? "-nan" : "nan";
    return;
  }
  if (std::isinf(value)) {
    out += value < 0 ? "-inf" : "inf";
    return;
  }
  std::array<char, 64> buf;
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  SPK_CHECK(ec == std::errc());
  std::string_view text(buf.data(), static_cast<size_t>(end - buf.data()));
  out += text;
  if (text.find_first_of(".e") == std::string_view::npos) out += ".0";
}

}  // namespace

std::string_view AttrKindName(AttrKind kind) {
  switch (kind) {
    case AttrKind::kInt:
      return "int";
    case AttrKind::kFloat:
      return "float";
    case AttrKind::kString:
      return "string";
    case AttrKind::kBool:
      return "bool";
    case AttrKind::kIntList:
      return "int list";
    case AttrKind::kFloatList:
      return "float list";
    case AttrKind::kConstRef:
      return "constant reference";
  }
  return "?";
}

int64_t Attribute::AsInt() const {
  SPK_CHECK(kind() == AttrKind::kInt);
  return std::get<0>(rep_);
}
double Attribute::AsFloat() const {
  SPK_CHECK(kind() == AttrKind::kFloat);
  return std::get<1>(rep_);
}
const std::string& Attribute::AsString() const {
  SPK_CHECK(kind() == AttrKind::kString);
  return std::get<2>(rep_);
}
bool Attribute::AsBool() const {
  SPK_CHECK(kind() == AttrKind::kBool);
  return std::get<3>(rep_);
}
const std::vector<int64_t>& Attribute::AsIntList() const {
  SPK_CHECK(kind() == AttrKind::kIntList);
  return std::get<4>(rep_);
}
const std::vector<double>& Attribute::AsFloatList() const {
  SPK_CHECK(kind() == AttrKind::kFloatList);
  return std::get<5>(rep_);
}
const std::string& Attribute::AsRef() const {
  SPK_CHECK(kind() == AttrKind::kConstRef);
  return std::get<6>(rep_).name;
}

bool operator==(const Attribute& a, const Attribute& b) {
  if (a.kind() != b.kind()) return false;
  if (a.kind() == AttrKind::kFloat) {
    return std::bit_cast<uint64_t>(a.AsFloat()) == std::bit_cast<uint64_t>(b.AsFloat());
  }
  if (a.kind() == AttrKind::kFloatList) {
    const auto& x = a.AsFloatList();
    const auto& y = b.AsFloatList();
    return std::equal(x.begin(), x.end(), y.begin(), y.end(), [](double p, double q) {
      return std::bit_cast<uint64_t>(p) == std::bit_cast<uint64_t>(q);
    });
  }
  return a.rep_ == b.rep_;
}

const Attribute* AttrDict::Find(std::string_view name) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                             [](const Entry& e, std::string_view n) { return e.first < n; });
  if (it == entries_.end() || it->first != name) return nullptr;
  return &it->second;
}

void AttrDict::Set(std::string_view name, Attribute value) {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                             [](const Entry& e, std::string_view n) { return e.first < n; });
  if (it != entries_.end() && it->first == name) {
    it->second = std::move(value);
  } else {
    entries_.insert(it, Entry(std::string(name), std::move(value)));
  }
}

bool AttrDict::Erase(std::string_view name) {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                             [](const Entry& e, std::string_view n) { return e.first < n; });
  if (it == entries_.end() || it->first != name) return false;
  entries_.erase(it);
  return true;
}

std::optional<int64_t> AttrDict::GetInt(std::string_view name) const {
  const Attribute* a = Find(name);
  if (a == nullptr || a->kind() != AttrKind::kInt) return std::nullopt;
  return a->AsInt();
}
std::optional<double> AttrDict::GetFloat(std::string_view name) const {
  const Attribute* a = Find(name);
  if (a == nullptr || a->kind() != AttrKind::kFloat) return std::nullopt;
  return a->AsFloat();
}
std::optional<bool> AttrDict::GetBool(std::string_view name) const {
  const Attribute* a = Find(name);
  if (a == nullptr || a->kind() != AttrKind::kBool) return std::nullopt;
  return a->AsBool();
}
const std::string* AttrDict::GetString(std::string_view name) const {
  const Attribute* a = Find(name);
  if (a == nullptr || a->kind() != AttrKind::kString) return nullptr;
  return &a->AsString();
}
const std::string* AttrDict::GetRef(std::string_view name) const {
  const Attribute* a = Find(name);
  if (a == nullptr || a->kind() != AttrKind::kConstRef) return nullptr;
  return &a->AsRef();
}
const std::vector<int64_t>* AttrDict::GetIntList(std::string_view name) const {
  const Attribute* a = Find(name);
  if (a == nullptr || a->kind() != AttrKind::kIntList) return nullptr;
  return &a->AsIntList();
}
const std::vector<double>* AttrDict::GetFloatList(std::string_view name) const {
  const Attribute* a = Find(name);
  if (a == nullptr || a->kind() != AttrKind::kFloatList) return nullptr;
  return &a->AsFloatList();
}

AttrDict MakeAttrs(std::vector<AttrDict::Entry> entries) {
  AttrDict dict;
  for (auto& [name, value] : entries) dict.Set(name, std::move(value));
  return dict;
}

void AppendDouble(std::string& out, double value) { AppendFloating(out, value); }
void AppendFloat(std::string& out, float value) { AppendFloating(out, value); }

void AppendInt(std::string& out, int64_t value) {
  std::array<char, 24> buf;
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  SPK_CHECK(ec == std::errc());
  out.append(buf.data(), end);
}

}  // namespace spk::compiler::ir
