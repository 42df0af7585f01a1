#pragma once

// Named fault-injection points, compiled in always and inert unless configured. The
// rotation engine calls Hit("rotation.after_create") and the like at every step
// boundary (docs/adr/0009-rotation-state-machine.md lists them); tests and the
// crash-restart suite configure what a point does.
//
//   Failpoints fp;                          // nothing configured: Hit() is one
//                                           // atomic load and returns OK
//   fp.Set("rotation.after_create", {FailpointAction::kCrash});
//   fp.Configure("rotation.after_store=abort");  // e.g. from KW_FAILPOINTS

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace kw::rotation {

enum class FailpointAction {
  kOff,
  // Hit returns kUnavailable (reason "FailpointError"): an ordinary failure that the
  // caller handles (retries).
  kError,
  // Hit returns kAborted (reason kFailpointCrashReason): the caller must stop at once
  // without persisting anything more, as if the process had died here. Lets an
  // in-process test "kill" the engine and start a new one over the same store.
  kCrash,
  // Hit calls std::abort(): a real process death, for the SIGKILL/restart tests.
  kAbort,
};

inline constexpr const char* kFailpointCrashReason = "FailpointCrash";

struct FailpointConfig {
  FailpointAction action = FailpointAction::kOff;
  // Fires on hits number skip+1 .. skip+times (1-based); times 0 = every hit after skip.
  std::uint32_t skip = 0;
  std::uint32_t times = 1;
};

// Thread-safe.
class Failpoints {
 public:
  Failpoints() = default;
  Failpoints(const Failpoints&) = delete;
  Failpoints& operator=(const Failpoints&) = delete;

  void Set(std::string name, FailpointConfig config);
  void Clear();
  // Parses "name=action[,name=action...]" where action is off|error|crash|abort,
  // optionally suffixed "@skip" (e.g. "rotation.after_create=abort@2"). kInvalidArgument
  // for anything else, leaving the configuration unchanged.
  Status Configure(std::string_view spec);

  // OK unless `name` is configured and fires (see FailpointAction).
  Status Hit(std::string_view name);
  // How often `name` was hit since construction (configured or not counted only while
  // at least one point is configured).
  std::uint32_t Hits(std::string_view name) const;

  // A process-wide instance that is never configured: the default for callers that do
  // not inject one.
  static Failpoints& Inert();

 private:
  struct Point {
    FailpointConfig config;
    std::uint32_t hits = 0;
  };
  std::atomic<bool> armed_{false};
  mutable std::mutex mu_;
  std::map<std::string, Point, std::less<>> points_;  // guarded by mu_
};

}  // namespace kw::rotation
