#include "sim/sim_driver.h"

#include <utility>

#include "sim/cost_model.h"
#include "sim/sim_device.h"

namespace spk::sim {

StatusOr<std::unique_ptr<SimDriver>> SimDriver::Create(hal::format::ChipProfile chip,
                                                       hal::format::BoardProfile board,
                                                       SimDriverOptions options) {
  SPK_RETURN_IF_ERROR(BoardMesh::Create(chip, board).status());
  if (options.boards == 0) return InvalidArgumentError("the sim driver needs at least one board");
  return std::unique_ptr<SimDriver>(new SimDriver(std::move(chip), std::move(board), options));
}

StatusOr<std::unique_ptr<SimDriver>> SimDriver::CreateFromProfiles(std::string_view board_profile,
                                                                   SimDriverOptions options) {
  SPK_ASSIGN_OR_RETURN(hal::format::BoardProfile board,
                       hal::format::LoadBoardProfile(board_profile));
  SPK_ASSIGN_OR_RETURN(hal::format::ChipProfile chip, hal::format::LoadChipProfile(board.chip));
  return Create(std::move(chip), std::move(board), options);
}

SimDriver::SimDriver(hal::format::ChipProfile chip, hal::format::BoardProfile board,
                     SimDriverOptions options)
    : chip_(std::move(chip)),
      board_(std::move(board)),
      options_(options),
      open_(std::make_shared<OpenBoards>()) {}

StatusOr<std::vector<hal::DeviceDescriptor>> SimDriver::Enumerate() {
  std::vector<hal::DeviceDescriptor> out;
  for (uint32_t i = 0; i < options_.boards; ++i) {
    hal::DeviceDescriptor d;
    d.id = "sim" + std::to_string(i);
    d.driver = "sim";
    d.description = "emulated " + board_.name;
    d.serial = "SIM-" + d.id;
    d.board_profile = board_.name;
    d.chip_profile = chip_.name;
    out.push_back(std::move(d));
  }
  return out;
}

StatusOr<std::unique_ptr<hal::Device>> SimDriver::Open(std::string_view id) {
  bool known = false;
  for (uint32_t i = 0; i < options_.boards && !known; ++i) known = id == "sim" + std::to_string(i);
  if (!known) {
    return NotFoundError("the sim driver has no board '" + std::string(id) + "' (it has sim0..sim" +
                         std::to_string(options_.boards - 1) + ")");
  }
  const std::string key(id);
  {
    std::lock_guard<std::mutex> lock(open_->mu);
    if (!open_->ids.insert(key).second) {
      return UnavailableError("board " + key + " is open already");
    }
  }
  SimDeviceOptions device;
  device.id = key;
  device.threads = options_.threads_per_board;
  device.on_close = [open = open_, key] {
    std::lock_guard<std::mutex> lock(open->mu);
    open->ids.erase(key);
  };
  auto created = SimDevice::Create(chip_, board_, std::move(device));
  if (!created.ok()) {
    std::lock_guard<std::mutex> lock(open_->mu);
    open_->ids.erase(key);
    return created.status();
  }
  return std::unique_ptr<hal::Device>(std::move(created).value());
}

Status RegisterSimDriver(hal::DriverRegistry& registry, std::string_view board_profile,
                         SimDriverOptions options) {
  SPK_ASSIGN_OR_RETURN(auto driver, SimDriver::CreateFromProfiles(board_profile, options));
  return registry.Register(std::move(driver));
}

}  // namespace spk::sim
