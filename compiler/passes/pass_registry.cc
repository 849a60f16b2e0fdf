#include "compiler/passes/pass_registry.h"

#include <algorithm>
#include <tuple>

#include "compiler/passes/passes.h"

namespace spk::compiler::passes {
namespace {

bool IsValidPassName(std::string_view name) {
  if (name.empty() || name.front() == '-' || name.back() == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

}  // namespace

Status PassRegistry::Register(PassInfo info) {
  if (!IsValidPassName(info.name)) {
    return InvalidArgumentError("invalid pass name '" + info.name + "' (use [a-z0-9-]+)");
  }
  if (!info.create) return InvalidArgumentError("pass '" + info.name + "' has no factory");
  if (by_name_.count(info.name)) {
    return AlreadyExistsError("pass '" + info.name + "' is registered twice");
  }
  passes_.push_back(std::make_unique<PassInfo>(std::move(info)));
  by_name_.emplace(passes_.back()->name, passes_.back().get());
  return Status::Ok();
}

const PassInfo* PassRegistry::Find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

std::vector<const PassInfo*> PassRegistry::List() const {
  std::vector<const PassInfo*> out;
  for (const auto& [name, info] : by_name_) out.push_back(info);
  return out;
}

StatusOr<std::vector<std::string>> PassRegistry::PipelineForLevel(int level) const {
  if (level < 0 || level > kMaxOptLevel) {
    return InvalidArgumentError("optimisation level " + std::to_string(level) + " is not in 0.." +
                                std::to_string(kMaxOptLevel));
  }
  // (stage, registration index, name)
  std::vector<std::tuple<int, size_t, std::string>> slots;
  for (size_t i = 0; i < passes_.size(); ++i) {
    for (const PipelineSlot& slot : passes_[i]->slots) {
      if (slot.min_level <= level) slots.emplace_back(slot.stage, i, passes_[i]->name);
    }
  }
  std::stable_sort(slots.begin(), slots.end(), [](const auto& a, const auto& b) {
    return std::tie(std::get<0>(a), std::get<1>(a)) < std::tie(std::get<0>(b), std::get<1>(b));
  });
  std::vector<std::string> names;
  for (auto& slot : slots) names.push_back(std::move(std::get<2>(slot)));
  return names;
}

void RegisterBuiltinPasses(PassRegistry& registry) {
  // Order matters within a stage: it is the running order.
  RegisterCanonicalizePass(registry);
  RegisterDcePass(registry);
  RegisterFoldBatchNormPass(registry);
  RegisterConstantFoldPass(registry);
}

}  // namespace spk::compiler::passes
