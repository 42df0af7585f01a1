#include "fleet/fingerprint.hpp"

#include "crypto/digest.hpp"

namespace kw::fleet {

FingerprintMatch CompareFingerprints(const agentproto::Fingerprint& registered,
                                     const agentproto::Fingerprint& presented) {
  FingerprintMatch m;
  if (registered.empty()) return m;
  std::size_t same = 0;
  for (const auto& [name, value] : registered) {
    auto it = presented.find(name);
    // Values are hashes, not secrets, but constant time costs nothing here.
    const bool equal = it != presented.end() && crypto::ConstantTimeEqual(it->second, value);
    if (equal) {
      ++same;
    } else {
      m.changed.push_back(name);
      if (name == kMachineIdComponent) m.machine_id_matches = false;
    }
  }
  m.similarity = static_cast<double>(same) / static_cast<double>(registered.size());
  // Compare in integers so 3 of 5 (exactly 60%) is not lost to rounding.
  m.accepted = m.machine_id_matches && same * 10 >= registered.size() * 6;
  return m;
}

}  // namespace kw::fleet
