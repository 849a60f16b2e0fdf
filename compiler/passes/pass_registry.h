// The pass registry: passes by command-line name, and where each one sits in
// the optimisation-level pipelines (-O0 .. -O3).
//
// Passes are added by explicit calls (RegisterBuiltinPasses calls one
// Register<Name>Pass function per pass file); nothing registers itself from a
// static initialiser, which static linking would silently drop.
//
// Pipelines are assembled from slots: a pass declares in which stage it runs
// and from which -O level on. A level's pipeline is every slot with
// min_level <= level, ordered by stage and, within a stage, by registration
// order. A pass may hold several slots (canonicalize runs early and late). So
// a new pass slots into the pipelines by its registration alone:
//
//   registry.Register({.name = "lif-to-cuba", .summary = "...",
//                      .create = [] { return std::make_unique<LifToCubaPass>(); },
//                      .slots = {{kStageNeuronLowering, 0}}});
//
// Thread safety: filled by one thread, then read-only.
#ifndef SPK_COMPILER_PASSES_PASS_REGISTRY_H_
#define SPK_COMPILER_PASSES_PASS_REGISTRY_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "compiler/passes/pass.h"

namespace spk::compiler::passes {

// Pipeline stages, in running order. Gaps leave room for stages added later.
inline constexpr int kStageCleanup = 100;            // canonicalize, dce on frontend IR
inline constexpr int kStageFold = 200;               // BatchNorm and constant folding
inline constexpr int kStageNeuronLowering = 300;     // lif/if_neuron -> cuba_lif
inline constexpr int kStageQuantize = 400;           // float weights -> syn_* with int8
inline constexpr int kStageAttentionLowering = 500;  // spike matmul -> and2 or host
inline constexpr int kStageFusion = 600;
inline constexpr int kStageFinalCleanup = 900;

inline constexpr int kMaxOptLevel = 3;

struct PipelineSlot {
  int stage = kStageCleanup;
  int min_level = 0;  // in the pipelines of -O<min_level> and above
};

struct PassInfo {
  std::string name;  // [a-z0-9-]+
  std::string summary;
  std::function<std::unique_ptr<Pass>()> create;
  std::vector<PipelineSlot> slots;  // empty: only runs when named explicitly
};

class PassRegistry {
 public:
  PassRegistry() = default;
  PassRegistry(const PassRegistry&) = delete;
  PassRegistry& operator=(const PassRegistry&) = delete;

  // ALREADY_EXISTS for a duplicate name; INVALID_ARGUMENT for a bad name or
  // a missing factory.
  Status Register(PassInfo info);
  const PassInfo* Find(std::string_view name) const;
  std::vector<const PassInfo*> List() const;  // sorted by name

  // Pass names for -O<level>; INVALID_ARGUMENT outside 0..kMaxOptLevel.
  StatusOr<std::vector<std::string>> PipelineForLevel(int level) const;

 private:
  std::vector<std::unique_ptr<PassInfo>> passes_;  // registration order
  std::map<std::string, const PassInfo*, std::less<>> by_name_;
};

// Registers every pass of this folder (see passes.h).
void RegisterBuiltinPasses(PassRegistry& registry);

}  // namespace spk::compiler::passes

#endif  // SPK_COMPILER_PASSES_PASS_REGISTRY_H_
