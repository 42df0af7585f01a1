#pragma once

// What the agent knows about its host: the fingerprint it registers and presents, and the
// descriptive facts it reports (platform, computer name, address). Thread-safe (pure
// reads of the file system).

#include <filesystem>
#include <string>
#include <vector>

#include "agentproto/agent_protocol.hpp"

namespace kw::agent {

// The host fingerprint, read under `root` ("/" in production; a fake tree in tests, or a
// bind-mounted identity in an integration test). Each component is the SHA-256 hex of one
// identifier, so raw identifiers never leave the host:
//   machine_id     /etc/machine-id, else /var/lib/dbus/machine-id
//   product_uuid   /sys/class/dmi/id/product_uuid, when readable (root only on most hosts)
//   hostname       /proc/sys/kernel/hostname (the UTS namespace's name)
//   cpu_model      the first "model name" (else "Hardware"/"cpu model") of /proc/cpuinfo
//   mac:<ifname>   /sys/class/net/<ifname>/address of each physical interface: not lo,
//                  not under /sys/devices/virtual (bridges, veth, tun...), not all zero
// Unreadable or empty identifiers are left out rather than hashed as "".
agentproto::Fingerprint ComputeFingerprint(const std::filesystem::path& root);

// The server's rule (docs/agent-protocol.md), recomputed locally for `status`: the share
// of registered components whose value is unchanged must be at least 60%, and
// machine_id must match when it was registered.
struct FingerprintMatch {
  bool matches = false;
  double similarity = 0;             // 0..1
  std::vector<std::string> changed;  // registered components now different or missing
};
FingerprintMatch CompareFingerprints(const agentproto::Fingerprint& registered,
                                     const agentproto::Fingerprint& current);

// PRETTY name parts of `root`/etc/os-release: NAME and VERSION_ID ("Linux" and the
// kernel release when absent).
agentproto::PlatformInfo ReadPlatform(const std::filesystem::path& root);

// The host name (gethostname).
std::string ComputerName();

// The source address this host uses to reach `server_host` (found by connecting a UDP
// socket, which sends nothing); else the first non-loopback IPv4 address; else
// "127.0.0.1".
std::string PrimaryIpAddress(const std::string& server_host);

}  // namespace kw::agent
