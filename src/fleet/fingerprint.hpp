#pragma once

// Host fingerprint comparison (docs/agent-protocol.md): a presented fingerprint is
// accepted when at least kMinFingerprintSimilarity of the registered components are
// unchanged and, if "machine_id" was registered, it is unchanged. Components that are
// new in the presented fingerprint (an added NIC) do not count either way. Pure; thread-safe.

#include <string>
#include <vector>

#include "agentproto/agent_protocol.hpp"

namespace kw::fleet {

inline constexpr double kMinFingerprintSimilarity = 0.6;
inline constexpr const char* kMachineIdComponent = "machine_id";

struct FingerprintMatch {
  double similarity = 0;           // unchanged registered components / registered components
  bool machine_id_matches = true;  // true when machine_id was not registered
  bool accepted = false;
  std::vector<std::string> changed;  // registered components missing or different
};

// An empty `registered` fingerprint is never accepted (registration requires one).
FingerprintMatch CompareFingerprints(const agentproto::Fingerprint& registered,
                                     const agentproto::Fingerprint& presented);

}  // namespace kw::fleet
