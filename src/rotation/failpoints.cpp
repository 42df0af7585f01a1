#include "rotation/failpoints.hpp"

#include <cstdlib>
#include <vector>

namespace kw::rotation {

void Failpoints::Set(std::string name, FailpointConfig config) {
  std::lock_guard lock(mu_);
  points_[std::move(name)].config = config;
  armed_.store(true, std::memory_order_release);
}

void Failpoints::Clear() {
  std::lock_guard lock(mu_);
  for (auto& [name, p] : points_) p.config = FailpointConfig{};
}

Status Failpoints::Configure(std::string_view spec) {
  std::vector<std::pair<std::string, FailpointConfig>> parsed;
  while (!spec.empty()) {
    const std::size_t comma = spec.find(',');
    std::string_view item = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    if (item.empty()) continue;
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return InvalidArgument("failpoint entry '" + std::string(item) + "' is not name=action");
    }
    std::string_view action = item.substr(eq + 1);
    FailpointConfig config;
    if (const std::size_t at = action.find('@'); at != std::string_view::npos) {
      const std::string skip(action.substr(at + 1));
      char* end = nullptr;
      const unsigned long v = std::strtoul(skip.c_str(), &end, 10);
      if (skip.empty() || *end != '\0' || v > 1000000) {
        return InvalidArgument("failpoint skip count '" + skip + "' is not a number");
      }
      config.skip = static_cast<std::uint32_t>(v);
      action = action.substr(0, at);
    }
    if (action == "off") {
      config.action = FailpointAction::kOff;
    } else if (action == "error") {
      config.action = FailpointAction::kError;
    } else if (action == "crash") {
      config.action = FailpointAction::kCrash;
    } else if (action == "abort") {
      config.action = FailpointAction::kAbort;
    } else {
      return InvalidArgument("failpoint action '" + std::string(action) +
                             "' is not off, error, crash or abort");
    }
    parsed.emplace_back(std::string(item.substr(0, eq)), config);
  }
  for (auto& [name, config] : parsed) Set(std::move(name), config);
  return OkStatus();
}

Status Failpoints::Hit(std::string_view name) {
  if (!armed_.load(std::memory_order_acquire)) return OkStatus();
  FailpointAction fire = FailpointAction::kOff;
  {
    std::lock_guard lock(mu_);
    auto it = points_.find(name);
    if (it == points_.end()) {
      points_.emplace(std::string(name), Point{FailpointConfig{}, 1});
      return OkStatus();
    }
    Point& p = it->second;
    const std::uint32_t n = ++p.hits;
    const FailpointConfig& c = p.config;
    if (c.action != FailpointAction::kOff && n > c.skip &&
        (c.times == 0 || n <= c.skip + c.times)) {
      fire = c.action;
    }
  }
  switch (fire) {
    case FailpointAction::kOff:
      return OkStatus();
    case FailpointAction::kError:
      return Unavailable("failpoint " + std::string(name) + " injected an error", "FailpointError");
    case FailpointAction::kCrash:
      return Aborted("failpoint " + std::string(name) + " simulated a crash",
                     kFailpointCrashReason);
    case FailpointAction::kAbort:
      std::abort();
  }
  return OkStatus();
}

std::uint32_t Failpoints::Hits(std::string_view name) const {
  std::lock_guard lock(mu_);
  auto it = points_.find(name);
  return it == points_.end() ? 0 : it->second.hits;
}

Failpoints& Failpoints::Inert() {
  static Failpoints* inert = new Failpoints();  // never destroyed: used at exit
  return *inert;
}

}  // namespace kw::rotation
