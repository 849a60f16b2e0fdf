#include "daemon/service/service.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <utility>

#include <spdlog/spdlog.h>

#include "daemon/protocol/operations.h"
#include "hal/format/board_image_io.h"

namespace spk::daemon {
namespace {

namespace fs = std::filesystem;

constexpr char kServerVersion[] = "0.1.0";

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string_view HealthName(hal::HealthState state) {
  switch (state) {
    case hal::HealthState::kOk:
      return "ok";
    case hal::HealthState::kDegraded:
      return "degraded";
    case hal::HealthState::kFailed:
      return "failed";
    case hal::HealthState::kGone:
      return "gone";
  }
  return "failed";
}

bool IsBoardImage(const std::vector<uint8_t>& bytes) {
  return bytes.size() >= sizeof(hal::format::kBoardImageMagic) &&
         std::equal(std::begin(hal::format::kBoardImageMagic),
                    std::end(hal::format::kBoardImageMagic), bytes.begin());
}

// Reads a model file the caller names. The daemon may be able to read more
// than its caller, so the file's permissions are checked against the caller.
StatusOr<std::vector<uint8_t>> ReadModelFile(const std::string& path, const Caller& caller) {
  if (path.empty() || path.front() != '/') {
    return InvalidArgumentError("deploy: model.path must be an absolute path, got '" + path + "'");
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int error = errno;
    if (error == ENOENT) return NotFoundError("deploy: model file " + path + " does not exist");
    return PermissionDeniedError("deploy: cannot read " + path + ": " + std::strerror(error));
  }
  if (!S_ISREG(st.st_mode)) {
    return InvalidArgumentError("deploy: " + path + " is not a regular file");
  }
  if (caller.uid != 0 && caller.uid != ::geteuid()) {
    const bool readable = (st.st_uid == caller.uid && (st.st_mode & S_IRUSR)) ||
                          (st.st_gid == caller.gid && (st.st_mode & S_IRGRP)) ||
                          (st.st_mode & S_IROTH);
    if (!readable) {
      return PermissionDeniedError("deploy: uid " + std::to_string(caller.uid) + " may not read " +
                                   path);
    }
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return PermissionDeniedError("deploy: cannot open " + path);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
}

Status WriteFileAtomically(const std::string& path, std::span<const uint8_t> bytes) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    if (!out) return UnavailableError("cannot write " + tmp);
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return UnavailableError("cannot rename " + tmp + ": " + ec.message());
  return Status::Ok();
}

// Stands in for a board that left and could not be opened again, so that
// the board stays listed (gone) and every use of it is refused.
class GoneDevice final : public hal::Device {
 public:
  GoneDevice(hal::DeviceInfo info, std::string why)
      : info_(std::move(info)), why_(std::move(why)) {}
  const hal::DeviceInfo& info() const override { return info_; }
  Status Reset() override { return Gone(); }
  StatusOr<hal::ProgramId> Load(const hal::format::BoardImage&, const hal::Partition&) override {
    return Gone();
  }
  Status Unload(hal::ProgramId) override { return Gone(); }
  Status ResetState(hal::ProgramId) override { return Gone(); }
  Status WriteInputs(hal::ProgramId, uint32_t, uint32_t, std::span<const int32_t>) override {
    return Gone();
  }
  StatusOr<hal::RunStats> Run(hal::ProgramId, uint32_t) override { return Gone(); }
  StatusOr<std::vector<int32_t>> ReadOutputs(hal::ProgramId, uint32_t) override { return Gone(); }
  StatusOr<hal::Telemetry> ReadTelemetry() override { return Gone(); }
  hal::Health CheckHealth() override { return {hal::HealthState::kGone, why_}; }

 private:
  Status Gone() const { return UnavailableError("board " + info_.id + " is gone: " + why_); }

  const hal::DeviceInfo info_;
  const std::string why_;
};

bool IsUp(hal::HealthState state) {
  return state == hal::HealthState::kOk || state == hal::HealthState::kDegraded;
}

std::string StemOf(const std::string& file) {
  std::string base = fs::path(file).filename().string();
  const size_t dot = base.find('.');
  if (dot != std::string::npos && dot > 0) base = base.substr(0, dot);
  return base;
}

}  // namespace

StatusOr<std::unique_ptr<Service>> Service::Create(std::unique_ptr<hal::DriverRegistry> registry,
                                                   ServiceOptions options, Metrics* metrics) {
  std::error_code ec;
  fs::create_directories(options.state_dir + "/artifacts", ec);
  if (ec) {
    return FailedPreconditionError("state.dir " + options.state_dir +
                                   " cannot be created: " + ec.message());
  }
  // Work files of compiles a killed daemon left behind.
  for (const auto& entry : fs::directory_iterator(options.state_dir + "/artifacts", ec)) {
    if (entry.path().filename().string().rfind("tmp-", 0) == 0) fs::remove(entry.path(), ec);
  }
  if (::access(options.state_dir.c_str(), W_OK) != 0) {
    return FailedPreconditionError("state.dir " + options.state_dir + " is not writable");
  }
  state::StateStoreOptions store_options;
  if (!options.kill_at_fault_point.empty()) {
    const std::string point = options.kill_at_fault_point;
    store_options.fault_hook = [point](std::string_view at) {
      if (at == point) ::kill(::getpid(), SIGKILL);
    };
  }
  SPK_ASSIGN_OR_RETURN(auto store,
                       state::StateStore::Create(options.state_dir + "/spiked.db", store_options));
  std::unique_ptr<Service> service(
      new Service(std::move(registry), std::move(options), metrics, std::move(store)));
  service->OpenBoards();
  return service;
}

Service::Service(std::unique_ptr<hal::DriverRegistry> registry, ServiceOptions options,
                 Metrics* metrics, std::unique_ptr<state::StateStore> store)
    : registry_(std::move(registry)),
      options_(std::move(options)),
      metrics_(metrics),
      store_(std::move(store)) {}

Service::~Service() {
  Stop();
  // Executors borrow devices: drop deployments first.
  std::lock_guard<std::mutex> lock(mu_);
  deployments_.clear();
}

void Service::OpenBoards() {
  hal::Enumeration found = registry_->EnumerateAll();
  for (const Status& error : found.errors) spdlog::warn("boards: {}", error.ToString());
  for (const hal::DeviceDescriptor& descriptor : found.devices) {
    auto device = registry_->Open(descriptor.driver, descriptor.id);
    if (!device.ok()) {
      spdlog::error("boards: cannot open {}:{}: {}", descriptor.driver, descriptor.id,
                    device.status().ToString());
      continue;
    }
    // The board may still run programs of a daemon before this one (a board
    // keeps its state across a restart of spiked): they hold its cores.
    if (Status reset = (*device)->Reset(); !reset.ok()) {
      spdlog::error("boards: cannot reset {}:{}: {}", descriptor.driver, descriptor.id,
                    reset.ToString());
    }
    auto allocator = hal::PartitionAllocator::Create((*device)->info());
    if (!allocator.ok()) {
      spdlog::error("boards: {}: {}", descriptor.id, allocator.status().ToString());
      continue;
    }
    const hal::DeviceInfo& info = (*device)->info();
    state::BoardRecord record{.id = info.id,
                              .driver = info.driver,
                              .serial = info.serial,
                              .board_profile = info.board_profile,
                              .chip_profile = info.chip_profile,
                              .total_cores = info.total_cores()};
    if (auto registered = store_->RegisterBoard(record); !registered.ok()) {
      spdlog::error("boards: cannot record {}: {}", info.id, registered.status().ToString());
    }
    spdlog::info("boards: {} ({} {}, {} cores)", info.id, info.driver, info.board_profile,
                 info.total_cores());
    auto board = std::make_unique<Board>();
    board->id = info.id;
    board->descriptor = descriptor;
    board->device = std::move(device).value();
    board->allocator = std::move(allocator).value();
    boards_.push_back(std::move(board));
  }
}

void Service::Start() {
  Restore();
  {
    // Deployments that failed over before a restart go home if it is here.
    std::lock_guard<std::mutex> deploy_lock(deploy_mu_);
    for (auto& board : boards_) {
      if (IsUp(board->device->CheckHealth().state)) ReturnHome(*board);
    }
  }
  hotplug_thread_ = std::thread([this] { HotplugLoop(); });
  // Events come on a driver's thread, which must not be held up (or called
  // back into): they are only queued there.
  registry_->SetHotplugListener(
      [this](const hal::DeviceDescriptor& board, hal::HotplugEvent event) {
        {
          std::lock_guard<std::mutex> lock(hotplug_mu_);
          hotplug_queue_.push_back({board, event});
        }
        hotplug_cv_.notify_all();
      });
  sampler_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(sampler_mu_);
    while (!stopping_) {
      lock.unlock();
      SampleTelemetry();
      PruneHistory();
      lock.lock();
      std::chrono::milliseconds period;
      {
        std::lock_guard<std::mutex> options_lock(mu_);
        period = options_.telemetry_period;
      }
      sampler_cv_.wait_for(lock, period, [this] { return stopping_ || sampler_wake_; });
      sampler_wake_ = false;
    }
  });
}

void Service::Stop() {
  registry_->SetHotplugListener(nullptr);
  {
    std::lock_guard<std::mutex> lock(hotplug_mu_);
    hotplug_stopping_ = true;
  }
  hotplug_cv_.notify_all();
  if (hotplug_thread_.joinable()) hotplug_thread_.join();
  {
    std::lock_guard<std::mutex> lock(sampler_mu_);
    stopping_ = true;
  }
  sampler_cv_.notify_all();
  if (sampler_.joinable()) sampler_.join();
}

void Service::Restore() {
  auto report = store_->Recover();
  if (!report.ok()) {
    spdlog::error("recovery: {}", report.status().ToString());
    restore_note_ = "recovery failed: " + report.status().ToString();
    restored_ = true;
    return;
  }
  for (const state::Deployment& d : report->rolled_back) {
    spdlog::warn("recovery: deployment {} ('{}') was interrupted and is now {}: {}", d.id, d.name,
                 state::DeploymentStateName(d.state), d.error);
  }
  for (const state::Deployment& d : report->restore) {
    auto fail = [&](const Status& why) {
      spdlog::error("recovery: deployment {} ('{}') cannot be restored: {}", d.id, d.name,
                    why.ToString());
      store_->MarkFailed(d.id, "not restored after restart: " + std::string(why.message()))
          .status()
          .IgnoreError();
    };
    Board* board = FindBoard(d.board_id);
    if (board == nullptr) {
      fail(UnavailableError("board " + d.board_id + " is not present"));
      continue;
    }
    auto artifact = store_->GetArtifact(d.artifact_key);
    if (!artifact.ok()) {
      fail(artifact.status());
      continue;
    }
    auto image = hal::format::ReadBoardImageFile(artifact->path);
    if (!image.ok()) {
      fail(image.status());
      continue;
    }
    hal::Partition partition{d.cores};
    if (Status s = board->allocator->Restore(partition); !s.ok()) {
      fail(s);
      continue;
    }
    auto loaded = LoadOnto(*board->device, *image, partition);
    if (!loaded.ok()) {
      board->allocator->Free(partition).IgnoreError();
      fail(loaded.status());
      continue;
    }
    auto dep = std::make_shared<Deployment>();
    dep->id = d.id;
    dep->name = d.name;
    dep->board = d.board_id;
    dep->home_board = d.home_board_id;
    dep->failover = d.failover;
    dep->exclusive =
        nlohmann::json::parse(d.options_json, nullptr, false).value("exclusive", false);
    dep->model_sha256 = d.model_sha256;
    dep->artifact_key = d.artifact_key;
    dep->image_sha256 = artifact->checksum;
    dep->created_s = static_cast<double>(d.created_ms) / 1000.0;
    dep->image = std::move(image).value();
    dep->partition = partition;
    dep->program = loaded->program;
    dep->executor = std::move(loaded->executor);
    spdlog::info("recovery: deployment {} ('{}') restored on {} cores {}", d.id, d.name, d.board_id,
                 d.cores.size());
    std::lock_guard<std::mutex> lock(mu_);
    if (dep->exclusive) {
      Board* home = FindBoard(dep->home_board.empty() ? dep->board : dep->home_board);
      if (home != nullptr) home->exclusive_owner = dep->id;
    }
    deployments_[dep->id] = std::move(dep);
  }
  restored_ = true;
}

StatusOr<Service::Loaded> Service::LoadOnto(hal::Device& device,
                                            const hal::format::BoardImage& image,
                                            const hal::Partition& partition) {
  Loaded out;
  SPK_ASSIGN_OR_RETURN(out.program, device.Load(image, partition));
  auto executor = executor::Executor::Create(image, &device, out.program);
  if (!executor.ok()) {
    device.Unload(out.program).IgnoreError();
    return executor.status();
  }
  out.executor = std::move(executor).value();
  return out;
}

Status Service::NoExecutor(const Deployment& d, const std::string& label) {
  if (!d.no_executor.ok()) return d.no_executor;
  return FailedPreconditionError("deployment '" + label + "' is undeploying");
}

void Service::SessionEnded(const SessionHandle& session, const Status& status) {
  std::function<void(const SessionHandle&, const Status&)> callback;
  {
    std::lock_guard<std::mutex> lock(session_ended_mu_);
    callback = session_ended_;
  }
  if (callback) callback(session, status);
}

void Service::SessionMoved(const SessionHandle& session, const std::string& stage,
                           const std::string& message) {
  std::function<void(const SessionHandle&, const std::string&, const std::string&)> callback;
  {
    std::lock_guard<std::mutex> lock(session_ended_mu_);
    callback = session_moved_;
  }
  if (callback) callback(session, stage, message);
}

Status Service::MoveLocked(Deployment& dep, Board& target, std::string home,
                           const std::string& stage, const std::string& why) {
  const std::string label = dep.name.empty() ? dep.id : dep.name;
  const std::string from = dep.board;
  SPK_ASSIGN_OR_RETURN(
      hal::Partition partition,
      target.allocator->Allocate(static_cast<uint32_t>(dep.partition.cores.size())));
  auto release = [&] { target.allocator->Free(partition).IgnoreError(); };
  StatusOr<Loaded> loaded = UnavailableError("not loaded");
  {
    std::shared_lock<std::shared_mutex> devices_lock(devices_mu_);
    loaded = LoadOnto(*target.device, dep.image, partition);
  }
  if (!loaded.ok()) {
    release();
    return loaded.status();
  }
  if (auto moved = store_->MoveDeployment(dep.id, target.id, partition.cores, home); !moved.ok()) {
    {
      std::shared_lock<std::shared_mutex> devices_lock(devices_mu_);
      target.device->Unload(loaded->program).IgnoreError();
    }
    release();
    return moved.status();
  }
  // The old program goes with the executor that borrowed its device; a gone
  // board refuses the unload, which costs nothing.
  Board* old_board = FindBoard(from);
  if (dep.executor != nullptr && old_board != nullptr) {
    std::shared_lock<std::shared_mutex> devices_lock(devices_mu_);
    dep.executor.reset();
    old_board->device->Unload(dep.program).IgnoreError();
  }
  if (old_board != nullptr) old_board->allocator->Free(dep.partition).IgnoreError();
  {
    std::lock_guard<std::mutex> lock(mu_);
    dep.board = target.id;
    dep.home_board = home;
    dep.partition = partition;
  }
  dep.program = loaded->program;
  dep.executor = std::move(loaded->executor);
  dep.no_executor = Status::Ok();
  spdlog::warn("{}: deployment {} ('{}') moved from {} to {} cores {}: {}", stage, dep.id, label,
               from, target.id, partition.cores.size(), why);
  if (dep.sessions.load() > 0) {
    // The new executor starts counting steps at 0; the session's go on.
    dep.step_offset = dep.session_steps;
    SessionMoved(HandleOf(dep), stage,
                 why + "; session continues on " + target.id + " from step " +
                     std::to_string(dep.session_steps) + " with state reset");
  }
  return Status::Ok();
}

Status Service::FailOverLocked(Deployment& dep, const std::string& why) {
  Status last = UnavailableError("the daemon has no emulated board to fail over to");
  for (auto& board : boards_) {
    if (board->id == dep.board || board->descriptor.driver != "sim") continue;
    if (Status held = CheckExclusive(*board, false); !held.ok()) {
      last = held;
      continue;
    }
    if (board->device->info().chip_profile != dep.image.meta.chip_profile) {
      last = UnavailableError("emulated board " + board->id + " is a " +
                              board->device->info().chip_profile + ", the deployment needs " +
                              dep.image.meta.chip_profile);
      continue;
    }
    Status moved = MoveLocked(dep, *board, dep.home_board.empty() ? dep.board : dep.home_board,
                              "failover", why);
    if (moved.ok()) return moved;
    last = moved.WithContext("failover to " + board->id);
  }
  return last;
}

bool Service::FailOverAfter(Deployment& dep, const Status& error) {
  if (dep.failover != state::FailoverPolicy::kEmulator || error.code() != StatusCode::kUnavailable)
    return false;
  Board* board = FindBoard(dep.board);
  if (board == nullptr) return false;
  {
    std::shared_lock<std::shared_mutex> devices_lock(devices_mu_);
    if (IsUp(board->device->CheckHealth().state)) return false;
  }
  Status moved = FailOverLocked(dep, "board " + dep.board + " is gone");
  if (!moved.ok()) {
    spdlog::error("failover: deployment {}: {}", dep.id, moved.ToString());
    return false;
  }
  return true;
}

Status Service::CheckExclusive(const Board& board, bool exclusive) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!board.exclusive_owner.empty()) {
    auto it = deployments_.find(board.exclusive_owner);
    const std::string owner = it == deployments_.end() || it->second->name.empty()
                                  ? board.exclusive_owner
                                  : it->second->name;
    return ResourceExhaustedError("board " + board.id + " is held exclusively by deployment '" +
                                  owner + "'");
  }
  if (exclusive) {
    for (const auto& [id, d] : deployments_) {
      if (d->board == board.id || d->home_board == board.id) {
        return ResourceExhaustedError("board " + board.id + " runs deployment '" +
                                      (d->name.empty() ? id : d->name) +
                                      "'; an exclusive deployment needs a board of its own");
      }
    }
  }
  return Status::Ok();
}

void Service::ReturnHome(Board& board) {
  std::vector<std::shared_ptr<Deployment>> away;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, d] : deployments_) {
      if (d->home_board == board.id) away.push_back(d);
    }
  }
  for (auto& dep : away) {
    std::lock_guard<std::mutex> lock(dep->mu);
    if (dep->home_board != board.id || dep->executor == nullptr) continue;
    Status moved = MoveLocked(*dep, board, "", "failback", "board " + board.id + " is back");
    if (!moved.ok()) {
      spdlog::error("failback: deployment {} stays on {}: {}", dep->id, dep->board,
                    moved.ToString());
    }
  }
}

void Service::EndSessionsOn(const std::string& board, const Status& status) {
  std::vector<std::shared_ptr<Deployment>> on;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, d] : deployments_) {
      if (d->board == board) on.push_back(d);
    }
  }
  for (auto& dep : on) {
    std::optional<SessionHandle> ended;
    {
      // Waits for a step in progress, which fails fast on a gone board.
      std::lock_guard<std::mutex> lock(dep->mu);
      ended = TakeSession(*dep);
    }
    if (ended) SessionEnded(*ended, status);
  }
}

void Service::HotplugLoop() {
  std::unique_lock<std::mutex> lock(hotplug_mu_);
  for (;;) {
    hotplug_cv_.wait(lock, [this] { return hotplug_stopping_ || !hotplug_queue_.empty(); });
    if (hotplug_stopping_) return;
    std::vector<HotplugQueued> events;
    events.swap(hotplug_queue_);
    lock.unlock();
    for (const HotplugQueued& e : events) {
      if (e.event == hal::HotplugEvent::kLeft) {
        BoardLeft(e.board.id);
      } else {
        BoardArrived(e.board);
      }
    }
    lock.lock();
  }
}

void Service::BoardLeft(const std::string& id) {
  Board* board = FindBoard(id);
  if (board == nullptr) return;  // not one of ours
  // No deploy_mu_ here: a long compile must not delay telling the sessions.
  std::lock_guard<std::mutex> events_lock(board_events_mu_);
  {
    // Told twice (hotplug and the sampler), or about a board that is back.
    std::shared_lock<std::shared_mutex> devices_lock(devices_mu_);
    if (board->left || IsUp(board->device->CheckHealth().state)) return;
  }
  board->left = true;
  spdlog::warn(
      "boards: {} was unplugged; deployments with failover move to an emulated board, "
      "the others wait for it and their sessions end",
      id);
  if (metrics_) metrics_->Board(id, BoardReading{.up = false});
  const Status gone = UnavailableError("board " + id + " was unplugged");
  std::vector<std::shared_ptr<Deployment>> on;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [dep_id, d] : deployments_) {
      if (d->board == id) on.push_back(d);
    }
  }
  for (auto& dep : on) {
    std::optional<SessionHandle> ended;
    {
      // Waits for a step in progress, which fails fast on a gone board.
      std::lock_guard<std::mutex> lock(dep->mu);
      if (dep->board != id) continue;  // moved meanwhile
      if (dep->failover == state::FailoverPolicy::kEmulator && dep->executor != nullptr) {
        Status moved = FailOverLocked(*dep, "board " + id + " was unplugged");
        if (moved.ok()) continue;
        spdlog::error("failover: deployment {} ('{}') cannot move: {}", dep->id, dep->name,
                      moved.ToString());
      }
      ended = TakeSession(*dep);
    }
    if (ended) SessionEnded(*ended, gone);
  }
}

void Service::BoardArrived(const hal::DeviceDescriptor& descriptor) {
  Board* board = FindBoard(descriptor.id);
  if (board == nullptr) {
    spdlog::info("boards: {}:{} was plugged in; spiked takes up new boards only at start",
                 descriptor.driver, descriptor.id);
    return;
  }
  std::lock_guard<std::mutex> deploy_lock(deploy_mu_);
  if (IsUp(board->device->CheckHealth().state)) return;  // the device we hold still answers
  const std::string& id = board->id;
  spdlog::info("boards: {} was plugged in again; reopening it", id);

  // Executors borrow the old device, which must close before the driver
  // opens the board again.
  std::vector<std::shared_ptr<Deployment>> on;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [dep_id, d] : deployments_) {
      if (d->board == id) on.push_back(d);
    }
  }
  EndSessionsOn(id, UnavailableError("board " + id + " was unplugged"));
  for (auto& dep : on) {
    std::lock_guard<std::mutex> lock(dep->mu);
    dep->executor.reset();
    dep->no_executor = UnavailableError("board " + id + " is being reopened");
  }
  const hal::DeviceInfo old_info = board->device->info();
  std::unique_ptr<hal::Device> old;
  {
    std::unique_lock<std::shared_mutex> lock(devices_mu_);
    old = std::exchange(board->device, std::make_unique<GoneDevice>(old_info, "reopening"));
  }
  old.reset();

  auto leave_gone = [&](const Status& why) {
    spdlog::error("boards: {} came back but cannot be used: {}", id, why.ToString());
    {
      std::unique_lock<std::shared_mutex> lock(devices_mu_);
      board->device = std::make_unique<GoneDevice>(old_info, why.ToString());
    }
    for (auto& dep : on) {
      std::lock_guard<std::mutex> lock(dep->mu);
      dep->no_executor = UnavailableError(
          "board " + id + " came back but cannot be used: " + std::string(why.message()));
    }
  };
  auto device = registry_->Open(board->descriptor.driver, board->descriptor.id);
  if (!device.ok()) return leave_gone(device.status());
  const hal::DeviceInfo& info = (*device)->info();
  // Partitions were allocated for the old board's cores.
  if (info.board_profile != old_info.board_profile || info.chip_profile != old_info.chip_profile ||
      info.total_cores() != old_info.total_cores()) {
    return leave_gone(FailedPreconditionError("it is now a " + info.board_profile + " (" +
                                              info.chip_profile + "), it was a " +
                                              old_info.board_profile));
  }
  if (info.serial != old_info.serial) {
    spdlog::warn("boards: {} has serial {} now, {} before; its deployments go onto it", id,
                 info.serial, old_info.serial);
  }
  // The board may still hold the programs loaded before it left.
  if (Status s = (*device)->Reset(); !s.ok()) return leave_gone(s);

  // Loaded before the device is put in place, so that the board shows up
  // only with its deployments serving again.
  size_t restored = 0;
  for (auto& dep : on) {
    auto loaded = LoadOnto(**device, dep->image, dep->partition);
    if (!loaded.ok()) {
      spdlog::error("boards: deployment {} ('{}') cannot be loaded onto {} again: {}", dep->id,
                    dep->name, id, loaded.status().ToString());
      store_->MarkFailed(dep->id, "not restored after a replug: " + loaded.status().ToString())
          .status()
          .IgnoreError();
      board->allocator->Free(dep->partition).IgnoreError();
      std::lock_guard<std::mutex> lock(mu_);
      deployments_.erase(dep->id);
      continue;
    }
    std::lock_guard<std::mutex> lock(dep->mu);
    dep->program = loaded->program;
    dep->executor = std::move(loaded->executor);
    dep->no_executor = Status::Ok();
    ++restored;
  }
  {
    std::unique_lock<std::shared_mutex> lock(devices_mu_);
    board->device = std::move(device).value();
  }
  {
    std::lock_guard<std::mutex> events_lock(board_events_mu_);
    board->left = false;
  }
  if (metrics_) metrics_->Board(id, BoardReading{.up = true});
  spdlog::info("boards: {} is back (serial {}); {} of {} deployments loaded again", id, info.serial,
               restored, on.size());
  ReturnHome(*board);
}

Service::Board* Service::FindBoard(const std::string& id) {
  for (auto& board : boards_) {
    if (board->id == id) return board.get();
  }
  return nullptr;
}

StatusOr<std::shared_ptr<Service::Deployment>> Service::Find(const std::string& id_or_name) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, d] : deployments_) {
    if (id == id_or_name || d->name == id_or_name) return d;
  }
  auto recorded = store_->GetDeployment(id_or_name);
  if (recorded.ok()) {
    return FailedPreconditionError("deployment '" + id_or_name + "' is " +
                                   std::string(state::DeploymentStateName(recorded->state)) +
                                   (recorded->error.empty() ? "" : ": " + recorded->error));
  }
  return NotFoundError("deployment '" + id_or_name + "' does not exist");
}

namespace {

// CMAKE_BUILD_TYPE, or what NDEBUG says when the generator set none.
std::string BuildType() {
  std::string type = SPK_BUILD_TYPE;
  if (!type.empty()) return type;
#ifdef NDEBUG
  return "release";
#else
  return "debug";
#endif
}

}  // namespace

nlohmann::json Service::Version() const {
  nlohmann::json ops = nlohmann::json::array();
  for (const auto& op : protocol::Operations()) ops.push_back(op.name);
  return {{"server", kServerVersion},
          {"board_image_format", 1},
          {"build",
           {{"type", BuildType()},
            {"torch", SPK_BUILD_HAS_TORCH != 0},
            {"usb", SPK_BUILD_HAS_USB != 0}}},
          {"operations", ops}};
}

StatusOr<nlohmann::json> Service::Health(const std::string& deployment) {
  nlohmann::json boards = nlohmann::json::array();
  bool any_ok = false;
  // A deployment is only as ready as the board it runs on.
  std::map<std::string, hal::Health> board_health;
  std::shared_lock<std::shared_mutex> devices_lock(devices_mu_);
  for (auto& board : boards_) {
    const hal::Health health = board->device->CheckHealth();
    any_ok = any_ok || IsUp(health.state);
    board_health[board->device->info().id] = health;
    boards.push_back({{"board", board->device->info().id},
                      {"state", HealthName(health.state)},
                      {"detail", health.detail}});
  }
  devices_lock.unlock();
  nlohmann::json reasons = nlohmann::json::array();
  if (!restored_) reasons.push_back("restoring deployments");
  if (!restore_note_.empty()) reasons.push_back(restore_note_);
  if (!any_ok) reasons.push_back("no healthy board");

  nlohmann::json deployments = nlohmann::json::array();
  if (!deployment.empty()) SPK_RETURN_IF_ERROR(Find(deployment).status());
  struct Live {
    std::shared_ptr<Deployment> d;
    std::string board, home;  // copied under mu_: a failover may move it
  };
  std::vector<Live> live;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, d] : deployments_) live.push_back({d, d->board, d->home_board});
  }
  for (auto& [d, board, home] : live) {
    if (!deployment.empty() && d->id != deployment && d->name != deployment) continue;
    auto it = board_health.find(board);
    const bool board_ok = it != board_health.end() && IsUp(it->second.state);
    std::string detail;
    if (!board_ok) {
      detail = it == board_health.end()
                   ? "board " + board + " is not known to this daemon"
                   : "board " + board + " is " + std::string(HealthName(it->second.state)) +
                         (it->second.detail.empty() ? "" : ": " + it->second.detail);
    } else if (!home.empty()) {
      detail = "failed over from board " + home;
    }
    deployments.push_back({{"deployment", d->name.empty() ? d->id : d->name},
                           {"id", d->id},
                           {"ready", board_ok},
                           {"state", board_ok ? "ready" : "unavailable"},
                           {"board", board},
                           {"detail", detail}});
  }
  return nlohmann::json{{"live", true},
                        {"ready", reasons.empty()},
                        {"reasons", reasons},
                        {"boards", boards},
                        {"deployments", deployments}};
}

nlohmann::json Service::Boards() {
  std::map<std::string, nlohmann::json> names;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, d] : deployments_) {
      names[d->board].push_back(d->name.empty() ? d->id : d->name);
    }
  }
  nlohmann::json out = nlohmann::json::array();
  std::shared_lock<std::shared_mutex> devices_lock(devices_mu_);
  for (auto& board : boards_) {
    const hal::DeviceInfo& info = board->device->info();
    const hal::Health health = board->device->CheckHealth();
    nlohmann::json deps = names.count(info.id) ? names[info.id] : nlohmann::json::array();
    out.push_back({{"board", info.id},
                   {"driver", info.driver},
                   {"emulated", info.driver == "sim"},
                   {"serial", info.serial},
                   {"firmware_version", info.firmware_version},
                   {"protocol_version", info.protocol_version},
                   {"board_profile", info.board_profile},
                   {"chip_profile", info.chip_profile},
                   {"chips", info.chips},
                   {"cores_per_chip", info.cores_per_chip},
                   {"cores_total", info.total_cores()},
                   {"cores_free", board->allocator->free_cores()},
                   {"deployments", deps},
                   {"health", {{"state", HealthName(health.state)}, {"detail", health.detail}}}});
  }
  return {{"boards", out}};
}

nlohmann::json Service::PortJson(const PortInfo& port, bool input) {
  nlohmann::json j = {{"name", port.name},
                      {"index", port.index},
                      {"kind", port.spikes ? "spikes" : "dense"},
                      // Inputs of spikes take 0/1; outputs come as f32 tensors.
                      {"dtype", input && port.spikes ? "u8" : "f32"}};
  if (!port.shape.empty() || port.per_step) {
    int64_t neurons = 1;
    for (int64_t d : port.shape) neurons *= d;
    j["shape"] = port.shape;
    j["neurons"] = neurons;
  }
  if (!input) j["per_step"] = port.per_step;
  return j;
}

nlohmann::json Service::Ports(const executor::Executor& executor) {
  nlohmann::json inputs = nlohmann::json::array(), outputs = nlohmann::json::array();
  for (const auto& p : executor.InputPorts()) inputs.push_back(PortJson(p, true));
  for (const auto& p : executor.OutputPorts()) outputs.push_back(PortJson(p, false));
  return {{"inputs", inputs}, {"outputs", outputs}};
}

StatusOr<Service::Artifact> Service::PrepareArtifact(const DeployArgs& args,
                                                     const std::vector<uint8_t>& model,
                                                     const std::string& model_sha256,
                                                     const std::string& model_name,
                                                     const std::string& chip_profile) {
  Artifact artifact;
  const std::string dir = options_.state_dir + "/artifacts/";
  if (IsBoardImage(model)) {
    auto image = hal::format::ReadBoardImage(model);
    if (!image.ok()) return image.status().WithContext("deploy: " + model_name);
    artifact.image = std::move(image).value();
    artifact.image_sha256 = model_sha256;
    artifact.key = "img-" + model_sha256;
    artifact.path = dir + artifact.key + ".spkimg";
    if (!fs::exists(artifact.path)) SPK_RETURN_IF_ERROR(WriteFileAtomically(artifact.path, model));
    state::ArtifactRecord record{.cache_key = artifact.key,
                                 .model_sha256 = model_sha256,
                                 .compile_options = "{}",
                                 .chip_profile = artifact.image.meta.chip_profile,
                                 .compiler_version = "none",
                                 .path = artifact.path,
                                 .size_bytes = static_cast<int64_t>(model.size()),
                                 .checksum = model_sha256};
    SPK_RETURN_IF_ERROR(store_->RegisterArtifact(record).status());
    return artifact;
  }

  // Anything else goes to the compiler process.
  CompileOptions compile;
  {
    std::lock_guard<std::mutex> lock(mu_);
    compile = options_.compile;
  }
  SPK_ASSIGN_OR_RETURN(std::string compiler_id, CompilerIdentity(compile.command));
  nlohmann::json opts = {{"opt_level", args.opt_level}, {"timesteps", args.timesteps}};
  // Only when set, so that the keys of images compiled before it stay.
  if (args.ssa != "auto") opts["ssa"] = args.ssa;
  const std::string key_text =
      model_sha256 + "\n" + opts.dump() + "\n" + chip_profile + "\n" + compiler_id;
  artifact.key = Sha256Hex(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(key_text.data()), key_text.size()));
  artifact.path = dir + artifact.key + ".spkimg";

  auto cached = store_->GetArtifact(artifact.key);
  // A bound of 0 means no cache: every deploy compiles.
  if (CacheMaxSize() > 0 && cached.ok() && fs::exists(cached->path)) {
    auto image = hal::format::ReadBoardImageFile(cached->path);
    if (image.ok()) {
      store_->TouchArtifact(artifact.key).IgnoreError();
      if (metrics_) metrics_->CacheLookup(true);
      artifact.image = std::move(image).value();
      artifact.image_sha256 = cached->checksum;
      artifact.cache_hit = true;
      return artifact;
    }
    spdlog::warn("cache: {} is unreadable ({}); compiling again", cached->path,
                 image.status().ToString());
  }
  if (metrics_) metrics_->CacheLookup(false);

  // The compiler reads the model from a file of ours, never the caller's
  // path: the caller's file may change under us.
  const std::string work = dir + "tmp-" + artifact.key;
  const std::string model_path = work + ".pt";
  SPK_RETURN_IF_ERROR(WriteFileAtomically(model_path, model));
  CompileJob job{.model_path = model_path,
                 .output_path = work + ".spkimg",
                 .report_path = work + ".report.json",
                 .log_path = work + ".log",
                 .chip_profile = chip_profile,
                 .opt_level = args.opt_level,
                 .ssa = args.ssa,
                 .stop = args.stop};
  std::error_code ec;
  fs::remove(job.output_path, ec);
  Status ran = RunCompiler(compile, job, &artifact.compile_s);
  if (metrics_) metrics_->CompileDone(artifact.compile_s);
  auto cleanup = [&] {
    for (const std::string& p : {job.model_path, job.output_path, job.report_path, job.log_path}) {
      fs::remove(p, ec);
    }
  };
  if (!ran.ok()) {
    cleanup();
    return ran.WithContext("deploy: " + model_name);
  }
  std::ifstream in(job.output_path, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  auto image = hal::format::ReadBoardImage(bytes);
  if (!image.ok()) {
    cleanup();
    return InternalError(
        "deploy: " + model_name + ": compiler '" + compile.command +
        "' exited 0 but its output is not a valid board image: " + image.status().ToString());
  }
  artifact.image = std::move(image).value();
  artifact.image_sha256 = Sha256Hex(bytes);
  fs::rename(job.output_path, artifact.path, ec);
  cleanup();
  if (ec) return UnavailableError("cache: cannot store " + artifact.path + ": " + ec.message());
  state::ArtifactRecord record{.cache_key = artifact.key,
                               .model_sha256 = model_sha256,
                               .compile_options = opts.dump(),
                               .chip_profile = chip_profile,
                               .compiler_version = compiler_id,
                               .path = artifact.path,
                               .size_bytes = static_cast<int64_t>(bytes.size()),
                               .checksum = artifact.image_sha256};
  SPK_RETURN_IF_ERROR(store_->RegisterArtifact(record).status());
  return artifact;
}

StatusOr<nlohmann::json> Service::Deploy(const DeployArgs& args, const Caller& caller) {
  auto progress = [&](const char* stage, const std::string& message) {
    if (args.progress) args.progress(stage, message);
  };
  progress("queued", "waiting for other deploys");
  std::lock_guard<std::mutex> deploy_lock(deploy_mu_);
  progress("load_model", args.bytes ? "model sent as bytes" : "reading " + args.path);
  std::vector<uint8_t> model;
  std::string model_name;
  if (args.bytes) {
    model = *args.bytes;
    model_name = args.filename.empty() ? "model" : args.filename;
  } else {
    SPK_ASSIGN_OR_RETURN(model, ReadModelFile(args.path, caller));
    model_name = args.path;
  }
  std::string name = args.name;
  if (name.empty()) name = StemOf(args.bytes ? model_name : args.path);
  if (!protocol::IsValidDeploymentName(name)) {
    return InvalidArgumentError("deploy: cannot derive a deployment name from '" + model_name +
                                "'; pass 'name'");
  }
  if (auto existing = Find(name); existing.ok()) {
    if (!args.replace) {
      return AlreadyExistsError("deploy: deployment '" + name +
                                "' exists; undeploy it or pass replace");
    }
    SPK_RETURN_IF_ERROR(UndeployLocked(name, true).status());
  }

  // Board: the named one, else the first that is healthy.
  Board* board = nullptr;
  if (!args.board.empty()) {
    board = FindBoard(args.board);
    if (board == nullptr) return NotFoundError("deploy: board '" + args.board + "' does not exist");
  } else {
    for (auto& b : boards_) {
      std::shared_lock<std::shared_mutex> devices_lock(devices_mu_);
      if (b->allocator->free_cores() > 0 && IsUp(b->device->CheckHealth().state)) {
        board = b.get();
        break;
      }
    }
    if (board == nullptr) {
      return ResourceExhaustedError(boards_.empty() ? "deploy: the daemon has no boards"
                                                    : "deploy: no board has a free core");
    }
  }
  const std::string chip =
      args.chip_profile.empty() ? board->device->info().chip_profile : args.chip_profile;
  if (chip != board->device->info().chip_profile) {
    return FailedPreconditionError("deploy: chip profile '" + chip + "' does not match board " +
                                   board->device->info().id + " ('" +
                                   board->device->info().chip_profile + "')");
  }

  if (args.failover == state::FailoverPolicy::kEmulator &&
      std::none_of(boards_.begin(), boards_.end(),
                   [](const auto& b) { return b->descriptor.driver == "sim"; })) {
    return FailedPreconditionError(
        "deploy: failover 'emulator' needs an emulated board and this daemon has none; start "
        "spiked with boards.emulated >= 1, or deploy with failover 'none'");
  }

  const std::string model_sha256 = Sha256Hex(model);
  state::ModelRecord model_record{.sha256 = model_sha256,
                                  .name = fs::path(model_name).filename().string(),
                                  .path = args.path,
                                  .size_bytes = static_cast<int64_t>(model.size())};
  SPK_RETURN_IF_ERROR(store_->RegisterModel(model_record).status());
  progress("compile", "compiling for " + chip + " (or taking the cached image)");
  SPK_ASSIGN_OR_RETURN(Artifact artifact,
                       PrepareArtifact(args, model, model_sha256, model_name, chip));
  TrimCache(artifact.key);
  // The last point where stopping leaves nothing to undo.
  if (args.stop != nullptr && args.stop->load() == kStopCancelled) {
    return CancelledError("deploy '" + name + "' was cancelled before loading");
  }
  if (args.stop != nullptr && args.stop->load() == kStopDeadline) {
    return DeadlineExceededError("deploy '" + name + "': timeout_ms passed before loading");
  }
  return LoadAndServe(name, model_sha256, artifact, args);
}

StatusOr<nlohmann::json> Service::LoadAndServe(const std::string& name,
                                               const std::string& model_sha256,
                                               const Artifact& artifact, const DeployArgs& args) {
  if (args.progress) {
    args.progress("place", std::string(artifact.cache_hit ? "cache hit" : "compiled") + "; " +
                               std::to_string(artifact.image.cores.size()) + " cores needed");
  }
  Board* board = args.board.empty() ? nullptr : FindBoard(args.board);
  const auto needed = static_cast<uint32_t>(artifact.image.cores.size());
  const uint32_t cores = std::max(needed, args.cores);
  hal::Partition partition;
  auto allocate = [&](Board& b) -> StatusOr<hal::Partition> {
    SPK_RETURN_IF_ERROR(CheckExclusive(b, args.exclusive));
    return args.chip ? b.allocator->AllocateOnChip(cores, *args.chip)
                     : b.allocator->Allocate(cores);
  };
  if (board == nullptr) {
    // The first board whose allocator has the cores.
    Status last = ResourceExhaustedError("deploy: the daemon has no boards");
    for (auto& b : boards_) {
      {
        std::shared_lock<std::shared_mutex> devices_lock(devices_mu_);
        if (!IsUp(b->device->CheckHealth().state)) {
          last = UnavailableError("deploy: board " + b->id + " is not up");
          continue;
        }
      }
      if (b->device->info().chip_profile != artifact.image.meta.chip_profile) {
        last = FailedPreconditionError(
            "deploy: the image is for chip profile '" + artifact.image.meta.chip_profile +
            "', board " + b->device->info().id + " has '" + b->device->info().chip_profile + "'");
        continue;
      }
      auto allocated = allocate(*b);
      if (allocated.ok()) {
        board = b.get();
        partition = std::move(allocated).value();
        break;
      }
      last = allocated.status().WithContext("deploy: board " + b->device->info().id);
    }
    if (board == nullptr) return last;
  } else {
    auto allocated = allocate(*board);
    if (!allocated.ok()) {
      return allocated.status().WithContext("deploy: board " + board->device->info().id);
    }
    partition = std::move(allocated).value();
  }
  auto release = [&] { board->allocator->Free(partition).IgnoreError(); };

  nlohmann::json options = {{"opt_level", args.opt_level}, {"timesteps", args.timesteps}};
  if (args.ssa != "auto") options["ssa"] = args.ssa;
  if (args.exclusive) options["exclusive"] = true;  // Restore reads it back
  state::DeployRequest request{.name = name,
                               .model_sha256 = model_sha256,
                               .board_id = board->device->info().id,
                               .cores = partition.cores,
                               .failover = args.failover,
                               .options_json = options.dump(),
                               .artifact_key = artifact.key};
  auto begun = store_->BeginDeploy(request);
  if (!begun.ok()) {
    release();
    return begun.status();
  }
  const std::string id = begun->id;
  auto fail = [&](const Status& why) -> Status {
    release();
    store_->MarkFailed(id, why.ToString()).status().IgnoreError();
    return why;
  };
  if (auto loading = store_->StartLoading(id, artifact.key); !loading.ok()) {
    return fail(loading.status());
  }
  if (args.progress) args.progress("load_image", "loading onto " + request.board_id);
  auto program = board->device->Load(artifact.image, partition);
  if (!program.ok())
    return fail(program.status().WithContext("deploy: loading onto " + request.board_id));
  auto executor = executor::Executor::Create(artifact.image, board->device.get(), *program);
  if (!executor.ok()) {
    board->device->Unload(*program).IgnoreError();
    return fail(executor.status().WithContext("deploy"));
  }
  if (auto ready = store_->MarkReady(id); !ready.ok()) {
    board->device->Unload(*program).IgnoreError();
    return fail(ready.status());
  }

  auto dep = std::make_shared<Deployment>();
  dep->id = id;
  dep->name = name;
  dep->board = request.board_id;
  dep->failover = args.failover;
  dep->exclusive = args.exclusive;
  dep->model_sha256 = model_sha256;
  dep->artifact_key = artifact.key;
  dep->image_sha256 = artifact.image_sha256;
  dep->created_s = static_cast<double>(begun->created_ms) / 1000.0;
  dep->image = artifact.image;
  dep->partition = partition;
  dep->program = *program;
  dep->executor = std::move(executor).value();
  const uint32_t timesteps = dep->executor->timesteps();
  {
    std::lock_guard<std::mutex> lock(mu_);
    deployments_[id] = dep;
    if (args.exclusive) board->exclusive_owner = id;
  }
  spdlog::info("deploy: {} ('{}') ready on {} cores {} ({})", id, name, request.board_id,
               partition.cores.size(), artifact.cache_hit ? "cache hit" : "cache miss");
  nlohmann::json out = Ports(*dep->executor);
  out.update({{"deployment", name},
              {"id", id},
              {"board", request.board_id},
              {"chip_profile", artifact.image.meta.chip_profile},
              {"partition", {{"board", request.board_id}, {"cores", partition.cores}}},
              {"cache", artifact.cache_hit ? "hit" : "miss"},
              {"model_sha256", model_sha256},
              {"image_sha256", artifact.image_sha256},
              {"compile_seconds", artifact.compile_s},
              {"timesteps", timesteps},
              {"report",
               {{"cores_used", needed},
                {"layers", artifact.image.groups.size()},
                {"warnings", nlohmann::json::array()}}}});
  return out;
}

StatusOr<nlohmann::json> Service::Undeploy(const std::string& deployment, bool force) {
  std::lock_guard<std::mutex> deploy_lock(deploy_mu_);
  return UndeployLocked(deployment, force);
}

StatusOr<nlohmann::json> Service::UndeployLocked(const std::string& deployment, bool force) {
  SPK_ASSIGN_OR_RETURN(std::shared_ptr<Deployment> dep, Find(deployment));
  const int sessions = dep->sessions.load();
  if (sessions > 0 && !force) {
    return FailedPreconditionError("deployment '" + deployment + "' has " +
                                   std::to_string(sessions) +
                                   " open sessions; close them or use force");
  }
  SPK_RETURN_IF_ERROR(store_->BeginUndeploy(dep->id).status());
  Board* board = nullptr;
  hal::Partition partition;
  std::optional<SessionHandle> ended;
  {
    // Waits for an inference in progress to finish. A failover cannot move
    // it from here on: the store refuses to move an undeploying deployment.
    std::lock_guard<std::mutex> lock(dep->mu);
    board = FindBoard(dep->board);
    partition = dep->partition;
    ended = TakeSession(*dep);
    dep->executor.reset();
    if (board != nullptr) {
      if (Status s = board->device->Unload(dep->program); !s.ok()) {
        spdlog::warn("undeploy: {}: unload: {}", dep->id, s.ToString());
      }
    }
  }
  SPK_RETURN_IF_ERROR(store_->FinishUndeploy(dep->id).status());
  if (board != nullptr) board->allocator->Free(partition).IgnoreError();
  {
    std::lock_guard<std::mutex> lock(mu_);
    deployments_.erase(dep->id);
    for (auto& b : boards_) {
      if (b->exclusive_owner == dep->id) b->exclusive_owner.clear();
    }
  }
  spdlog::info("undeploy: {} ('{}') freed {} cores", dep->id, dep->name, partition.cores.size());
  if (ended) {
    SessionEnded(*ended,
                 FailedPreconditionError("deployment '" + ended->deployment + "' was undeployed"));
  }
  return nlohmann::json{{"deployment", dep->name.empty() ? dep->id : dep->name},
                        {"id", dep->id},
                        {"sessions_closed", sessions},
                        {"cores_freed", partition.cores.size()}};
}

nlohmann::json Service::Summary(const Deployment& d) const {
  return {{"deployment", d.name.empty() ? d.id : d.name},
          {"id", d.id},
          {"state", "ready"},
          {"board", d.board},
          {"chip_profile", d.image.meta.chip_profile},
          {"cores", d.partition.cores.size()},
          {"failover", state::FailoverPolicyName(d.failover)},
          {"home_board", d.home_board.empty() ? nlohmann::json() : nlohmann::json(d.home_board)},
          {"created", d.created_s},
          {"model_sha256", d.model_sha256},
          {"sessions", d.sessions.load()},
          {"inferences", d.inferences.load()}};
}

StatusOr<nlohmann::json> Service::ListDeployments() {
  nlohmann::json out = nlohmann::json::array();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, d] : deployments_) out.push_back(Summary(*d));
  return nlohmann::json{{"deployments", out}};
}

StatusOr<nlohmann::json> Service::DescribeDeployment(const std::string& deployment) {
  SPK_ASSIGN_OR_RETURN(std::shared_ptr<Deployment> dep, Find(deployment));
  nlohmann::json out;
  {
    std::lock_guard<std::mutex> lock(dep->mu);
    if (!dep->executor) return NoExecutor(*dep, deployment);
    out = Summary(*dep);
    out.update(Ports(*dep->executor));
    out["partition"] = {{"board", dep->board}, {"cores", dep->partition.cores}};
  }
  out["timesteps"] = dep->image.meta.timesteps;
  out["image_sha256"] = dep->image_sha256;
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& g : dep->image.groups) {
    layers.push_back(
        {{"name", g.layer}, {"cores", {g.core}}, {"neurons", g.size}, {"host", false}});
  }
  for (const auto& s : dep->image.host_segments) {
    layers.push_back({{"name", s.name}, {"kind", s.op}, {"host", true}});
  }
  out["report"] = {{"layers", layers},
                   {"cores_used", dep->image.cores.size()},
                   {"warnings", nlohmann::json::array()}};
  return out;
}

StatusOr<std::map<std::string, std::vector<int64_t>>> Service::InputShapes(
    const std::string& deployment) {
  SPK_ASSIGN_OR_RETURN(std::shared_ptr<Deployment> dep, Find(deployment));
  std::lock_guard<std::mutex> lock(dep->mu);
  if (!dep->executor) return NoExecutor(*dep, deployment);
  return dep->executor->inputs();
}

namespace {

// Per-core and per-layer costs of one run. A core's energy and time are
// split between the layers on it by their neuron counts; the HAL counts
// per core, not per neuron group.
nlohmann::json DetailedReport(const hal::format::BoardImage& image,
                              const std::vector<uint32_t>& physical, const hal::RunStats& chip) {
  auto at = [](const std::vector<double>& v, uint32_t k) { return k < v.size() ? v[k] : 0.0; };
  std::map<uint32_t, uint64_t> core_neurons;
  for (const auto& g : image.groups) core_neurons[g.core] += g.size;
  nlohmann::json cores = nlohmann::json::array();
  for (uint32_t k = 0; k < image.cores.size(); ++k) {
    cores.push_back({{"core", k < physical.size() ? physical[k] : k},
                     {"logical_core", k},
                     {"energy_joules", at(chip.core_dynamic_energy_j, k)},
                     {"seconds", at(chip.core_time_s, k)}});
  }
  struct Sum {
    double joules = 0, seconds = 0;
    std::set<uint32_t> cores;
    uint64_t neurons = 0;
  };
  std::vector<std::string> order;
  std::map<std::string, Sum> layers;
  for (const auto& g : image.groups) {
    if (!layers.count(g.layer)) order.push_back(g.layer);
    Sum& sum = layers[g.layer];
    const double share =
        core_neurons[g.core] ? static_cast<double>(g.size) / core_neurons[g.core] : 0.0;
    sum.joules += share * at(chip.core_dynamic_energy_j, g.core);
    sum.seconds += share * at(chip.core_time_s, g.core);
    sum.cores.insert(g.core < physical.size() ? physical[g.core] : g.core);
    sum.neurons += g.size;
  }
  nlohmann::json out = nlohmann::json::array();
  for (const auto& name : order) {
    const Sum& sum = layers[name];
    out.push_back({{"name", name},
                   {"cores", sum.cores},
                   {"neurons", sum.neurons},
                   {"energy_joules", sum.joules},
                   {"seconds", sum.seconds}});
  }
  return {{"layers", out}, {"cores", cores}, {"spikes", chip.spikes}};
}

}  // namespace

StatusOr<InferOutcome> Service::Infer(const std::string& deployment,
                                      const std::map<std::string, executor::HostValue>& inputs,
                                      bool detailed) {
  auto found = Find(deployment);
  if (!found.ok()) {
    if (metrics_) metrics_->InferenceDone(deployment, false, 0);
    return found.status();
  }
  std::shared_ptr<Deployment> dep = std::move(found).value();
  const std::string label = dep->name.empty() ? dep->id : dep->name;
  const auto start = std::chrono::steady_clock::now();
  StatusOr<executor::InferenceResult> result =
      FailedPreconditionError("deployment '" + label + "' is being undeployed");
  std::set<std::string> spike_ports;
  std::string board;
  std::vector<uint32_t> cores;
  {
    std::lock_guard<std::mutex> lock(dep->mu);
    if (!dep->executor && !dep->no_executor.ok()) result = dep->no_executor;
    if (dep->executor) {
      result = dep->executor->Infer(inputs);
      // One inference is independent of the last: run it again where the
      // deployment failed over to.
      if (!result.ok() && FailOverAfter(*dep, result.status())) {
        result = dep->executor->Infer(inputs);
      }
      board = dep->board;
      cores = dep->partition.cores;
      if (result.ok()) {
        for (const auto& [name, value] : result->ports) {
          if (dep->executor->SpikePort(name)) spike_ports.insert(name);
        }
      }
    }
  }
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (metrics_) metrics_->InferenceDone(label, result.ok(), wall);
  if (!result.ok()) return result.status().WithContext("infer '" + label + "'");
  dep->inferences.fetch_add(1);
  InferOutcome outcome;
  outcome.deployment = label;
  outcome.board = board;
  outcome.timesteps = dep->image.meta.timesteps;
  outcome.result = std::move(result).value();
  outcome.spike_ports = std::move(spike_ports);
  outcome.wall_s = wall;
  if (detailed) {
    outcome.report = DetailedReport(dep->image, cores, outcome.result.chip);
  }
  return outcome;
}

StatusOr<SessionHandle> Service::OpenSession(const std::string& deployment) {
  SPK_ASSIGN_OR_RETURN(std::shared_ptr<Deployment> dep, Find(deployment));
  std::lock_guard<std::mutex> lock(dep->mu);
  if (!dep->executor) return NoExecutor(*dep, deployment);
  if (dep->sessions.load() > 0) {
    return ResourceExhaustedError("deployment '" + deployment +
                                  "' has an open session already; it holds the deployment's "
                                  "state, so only one is served at a time");
  }
  SPK_RETURN_IF_ERROR(dep->executor->StreamReset());
  dep->session_steps = 0;
  dep->step_offset = 0;
  dep->sessions = 1;
  dep->session_generation = next_session_generation_.fetch_add(1);
  if (metrics_) metrics_->SessionsActive(++sessions_open_);
  return HandleOf(*dep);
}

std::optional<SessionHandle> Service::TakeSession(Deployment& dep) {
  if (dep.sessions.exchange(0) == 0) return std::nullopt;
  if (metrics_) metrics_->SessionsActive(--sessions_open_);
  return HandleOf(dep);
}

SessionHandle Service::HandleOf(const Deployment& dep) {
  return SessionHandle{.deployment_id = dep.id,
                       .deployment = dep.name.empty() ? dep.id : dep.name,
                       .board = dep.board,
                       .generation = dep.session_generation};
}

StatusOr<std::vector<executor::StreamStep>> Service::SessionPush(
    const SessionHandle& session, const std::map<std::string, executor::HostValue>& inputs,
    hal::RunStats* stats) {
  std::shared_ptr<Deployment> dep;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = deployments_.find(session.deployment_id);
    if (it != deployments_.end()) dep = it->second;
  }
  const Status gone =
      FailedPreconditionError("deployment '" + session.deployment + "' was undeployed");
  if (!dep) return gone;
  std::lock_guard<std::mutex> lock(dep->mu);
  if (!dep->executor) return dep->no_executor.ok() ? gone : dep->no_executor;
  if (dep->sessions.load() == 0 || dep->session_generation != session.generation) {
    return FailedPreconditionError("the session on deployment '" + session.deployment +
                                   "' has ended");
  }
  auto steps = dep->executor->StreamPush(inputs, stats);
  // The step lost with the board is run again on the emulator, from a reset
  // state (MoveLocked told the session).
  if (!steps.ok() && FailOverAfter(*dep, steps.status())) {
    steps = dep->executor->StreamPush(inputs, stats);
  }
  if (!steps.ok()) return steps.status();
  ++dep->session_steps;
  for (executor::StreamStep& step : *steps) step.step += dep->step_offset;
  return steps;
}

void Service::CloseSession(const SessionHandle& session) {
  std::shared_ptr<Deployment> dep;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = deployments_.find(session.deployment_id);
    if (it == deployments_.end()) return;
    dep = it->second;
  }
  // Under the deployment's mutex: a step of this session may be running.
  std::lock_guard<std::mutex> lock(dep->mu);
  if (dep->session_generation != session.generation) return;
  if (dep->sessions.exchange(0) > 0 && metrics_) metrics_->SessionsActive(--sessions_open_);
}

StatusOr<std::pair<std::vector<Service::PortInfo>, std::vector<Service::PortInfo>>>
Service::SessionPorts(const SessionHandle& session) {
  SPK_ASSIGN_OR_RETURN(std::shared_ptr<Deployment> dep, Find(session.deployment_id));
  std::lock_guard<std::mutex> lock(dep->mu);
  if (!dep->executor) return NoExecutor(*dep, session.deployment);
  return std::make_pair(dep->executor->InputPorts(), dep->executor->OutputPorts());
}

void Service::SampleTelemetry() {
  std::vector<state::TelemetrySample> samples;
  std::vector<std::string> gone;
  const auto now_ms = static_cast<int64_t>(NowSeconds() * 1000);
  std::shared_lock<std::shared_mutex> devices_lock(devices_mu_);
  for (auto& board : boards_) {
    const std::string& id = board->device->info().id;
    const hal::Health health = board->device->CheckHealth();
    if (health.state == hal::HealthState::kGone) gone.push_back(id);
    BoardReading reading;
    reading.up = IsUp(health.state);
    auto telemetry = board->device->ReadTelemetry();
    state::TelemetrySample sample{.board_id = id, .timestamp_ms = now_ms};
    if (telemetry.ok()) {
      for (const auto& [rail, value] : telemetry->power_w) {
        if (!value.supported) continue;
        sample.fields["power_w." + rail] = value.value;
        reading.power_w[rail] = value.value;
      }
      if (telemetry->temperature_c.supported) {
        sample.fields["temperature_c"] = telemetry->temperature_c.value;
        reading.temperature_c = telemetry->temperature_c.value;
      }
      if (telemetry->energy_total_j.supported) {
        sample.fields["energy_total_j"] = telemetry->energy_total_j.value;
        reading.energy_total_j = telemetry->energy_total_j.value;
      }
      sample.fields["steps_total"] = static_cast<double>(telemetry->steps_total);
      sample.fields["errors_total"] = static_cast<double>(telemetry->errors_total);
    } else {
      reading.up = false;
    }
    sample.fields["up"] = reading.up ? 1 : 0;
    if (metrics_) metrics_->Board(id, reading);
    samples.push_back(std::move(sample));
  }
  devices_lock.unlock();
  // A board can go without a hotplug event (a driver without hotplug, a
  // board that stops answering): its removal is handled all the same.
  for (const std::string& id : gone) BoardLeft(id);
  if (samples.empty()) return;
  if (Status s = store_->InsertTelemetry(samples); !s.ok()) {
    spdlog::warn("telemetry: {}", s.ToString());
  }
  std::chrono::milliseconds retention;
  {
    std::lock_guard<std::mutex> lock(mu_);
    retention = options_.telemetry_retention;
  }
  store_->PruneTelemetry({.max_age_ms = retention.count(), .max_samples_per_board = 100000})
      .status()
      .IgnoreError();
}

namespace {
nlohmann::json SampleJson(const state::TelemetrySample& s) {
  nlohmann::json fields = nlohmann::json::object();
  for (const auto& [k, v] : s.fields) fields[k] = v;
  return {{"board", s.board_id},
          {"timestamp", static_cast<double>(s.timestamp_ms) / 1000.0},
          {"fields", fields}};
}
}  // namespace

StatusOr<nlohmann::json> Service::TelemetryLatest(const std::string& board) {
  nlohmann::json out = nlohmann::json::array();
  std::shared_lock<std::shared_mutex> devices_lock(devices_mu_);
  for (auto& b : boards_) {
    const hal::DeviceInfo& info = b->device->info();
    if (!board.empty() && info.id != board) continue;
    auto t = b->device->ReadTelemetry();
    if (!t.ok()) {
      out.push_back({{"board", info.id}, {"error", t.status().ToString()}});
      continue;
    }
    auto value = [](const hal::TelemetryValue& v) -> nlohmann::json {
      return v.supported ? nlohmann::json(v.value) : nlohmann::json("unsupported");
    };
    nlohmann::json power = nlohmann::json::object();
    for (const auto& [rail, v] : t->power_w) power[rail] = value(v);
    // Field names spell their units, as docs/protocol.md and the metrics do.
    out.push_back({{"board", info.id},
                   {"timestamp", t->timestamp_s},
                   {"power_watts", power},
                   {"temperature_celsius", value(t->temperature_c)},
                   {"energy_joules_total", value(t->energy_total_j)},
                   {"steps_total", t->steps_total},
                   {"errors_total", t->errors_total}});
  }
  if (!board.empty() && out.empty()) return NotFoundError("board '" + board + "' does not exist");
  return nlohmann::json{{"boards", out}};
}

StatusOr<nlohmann::json> Service::TelemetryHistory(const std::string& board,
                                                   std::optional<double> since,
                                                   std::optional<double> until,
                                                   uint32_t max_samples) {
  if (!board.empty() && FindBoard(board) == nullptr) {
    return NotFoundError("board '" + board + "' does not exist");
  }
  state::TelemetryQuery query;
  query.board_id = board;
  if (since) query.since_ms = static_cast<int64_t>(*since * 1000);
  if (until) query.until_ms = static_cast<int64_t>(*until * 1000);
  query.limit = max_samples == 0 ? 1000 : max_samples;
  SPK_ASSIGN_OR_RETURN(auto samples, store_->QueryTelemetry(query));
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : samples) out.push_back(SampleJson(s));
  return nlohmann::json{{"samples", out}};
}

void Service::Audit(const Caller& caller, const std::string& operation, const std::string& target,
                    const Status& result) {
  state::AuditEntry entry;
  entry.uid = caller.uid;
  entry.gid = caller.gid;
  entry.pid = caller.pid;
  entry.operation = operation;
  entry.target = target;
  entry.result = result.code();
  entry.message = std::string(result.message());
  if (auto id = store_->AppendAudit(entry); !id.ok()) {
    spdlog::warn("audit: {}", id.status().ToString());
  }
}

void Service::UpdateLiveOptions(const ServiceOptions& options) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    options_.compile = options.compile;
    options_.cache_max_size = options.cache_max_size;
    options_.telemetry_period = options.telemetry_period;
    options_.telemetry_retention = options.telemetry_retention;
    options_.history_retention = options.history_retention;
  }
  // The sampler may be sleeping out a long old period.
  {
    std::lock_guard<std::mutex> lock(sampler_mu_);
    sampler_wake_ = true;
  }
  sampler_cv_.notify_all();
}

uint64_t Service::CacheMaxSize() const {
  std::lock_guard<std::mutex> lock(mu_);
  return options_.cache_max_size;
}

void Service::PruneHistory() {
  std::chrono::milliseconds retention;
  {
    std::lock_guard<std::mutex> lock(mu_);
    retention = options_.history_retention;
  }
  // Often enough that nothing outlives its retention by more than a tenth
  // of it (or a minute), rarely enough not to scan the tables every sample.
  const auto now_ms = static_cast<int64_t>(NowSeconds() * 1000);
  const int64_t every_ms = std::min<int64_t>(60'000, retention.count() / 10);
  if (now_ms - history_pruned_ms_ < every_ms) return;
  history_pruned_ms_ = now_ms;
  const int64_t before_ms = now_ms - retention.count();
  auto audit = store_->PruneAudit(before_ms);
  auto history = store_->PruneDeploymentHistory(before_ms);
  if (!audit.ok() || !history.ok()) {
    spdlog::warn("state: pruning history: {}",
                 (audit.ok() ? history.status() : audit.status()).ToString());
    return;
  }
  if (*audit > 0 || *history > 0) {
    spdlog::debug("state: pruned {} audit entries and {} past deployments", *audit, *history);
  }
}

void Service::TrimCache(const std::string& keep) {
  const uint64_t bound = CacheMaxSize();
  auto artifacts = store_->ListArtifacts();
  if (!artifacts.ok()) {
    spdlog::warn("cache: {}", artifacts.status().ToString());
    return;
  }
  uint64_t total = 0;
  for (const state::ArtifactRecord& a : *artifacts) total += static_cast<uint64_t>(a.size_bytes);
  // Least recently used first; images of active deployments stay, as a
  // restart loads them again.
  for (const state::ArtifactRecord& a : *artifacts) {
    if (total <= bound) break;
    if (a.cache_key == keep) continue;
    if (!store_->DeleteArtifact(a.cache_key).ok()) continue;
    std::error_code ec;
    fs::remove(a.path, ec);
    total -= static_cast<uint64_t>(a.size_bytes);
    spdlog::info("cache: evicted {} ({} bytes) to stay within cache.max_size", a.cache_key,
                 a.size_bytes);
  }
}

}  // namespace spk::daemon
