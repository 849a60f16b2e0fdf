#include "hal/driver_registry.h"

#include <utility>

namespace spk::hal {

Status DriverRegistry::Register(std::unique_ptr<Driver> driver) {
  if (driver == nullptr) return InvalidArgumentError("cannot register a null driver");
  std::string name(driver->name());
  if (name.empty()) return InvalidArgumentError("cannot register a driver with an empty name");
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = drivers_.try_emplace(name, nullptr);
  if (!inserted) return AlreadyExistsError("driver \"" + name + "\" is already registered");
  it->second = std::move(driver);
  return Status::Ok();
}

StatusOr<Driver*> DriverRegistry::Find(std::string_view name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = drivers_.find(name);
  if (it != drivers_.end()) return it->second.get();
  std::string known;
  for (const auto& [n, d] : drivers_) known += (known.empty() ? "" : ", ") + n;
  return NotFoundError("no driver \"" + std::string(name) +
                       "\" (registered: " + (known.empty() ? "none" : known) + ")");
}

std::vector<std::string> DriverRegistry::DriverNames() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> names;
  for (const auto& [name, driver] : drivers_) names.push_back(name);
  return names;
}

Enumeration DriverRegistry::EnumerateAll() const {
  // Drivers are never removed, so the pointers outlive the lock.
  std::vector<std::pair<std::string, Driver*>> drivers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, driver] : drivers_) drivers.emplace_back(name, driver.get());
  }
  Enumeration out;
  for (const auto& [name, driver] : drivers) {
    StatusOr<std::vector<DeviceDescriptor>> found = driver->Enumerate();
    if (!found.ok()) {
      out.errors.push_back(found.status().WithContext("driver \"" + name + "\""));
      continue;
    }
    for (DeviceDescriptor& d : *found) {
      d.driver = name;
      out.devices.push_back(std::move(d));
    }
  }
  return out;
}

StatusOr<std::unique_ptr<Device>> DriverRegistry::Open(std::string_view driver,
                                                       std::string_view id) const {
  SPK_ASSIGN_OR_RETURN(Driver * d, Find(driver));
  return d->Open(id);
}

StatusOr<std::unique_ptr<Device>> DriverRegistry::OpenUri(std::string_view uri) const {
  size_t colon = uri.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == uri.size()) {
    return InvalidArgumentError("device \"" + std::string(uri) +
                                "\" is not of the form driver:id (e.g. sim:sim0)");
  }
  return Open(uri.substr(0, colon), uri.substr(colon + 1));
}

void DriverRegistry::SetHotplugListener(const HotplugListener& listener) const {
  std::vector<std::pair<std::string, Driver*>> drivers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, driver] : drivers_) drivers.emplace_back(name, driver.get());
  }
  for (const auto& [name, driver] : drivers) {
    if (!listener) {
      driver->SetHotplugListener(nullptr);
      continue;
    }
    // The registry, not the driver, owns the naming of drivers.
    driver->SetHotplugListener([listener, name](const DeviceDescriptor& board, HotplugEvent event) {
      DeviceDescriptor named = board;
      named.driver = name;
      listener(named, event);
    });
  }
}

}  // namespace spk::hal
