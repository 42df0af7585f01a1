#include "agent/fingerprint.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <system_error>

#include "common/atomic_file.hpp"
#include "common/strings.hpp"
#include "crypto/digest.hpp"

namespace kw::agent {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxIdentityFile = 1 << 20;  // /proc/cpuinfo on a large host

// `path` below `root`; `path` is absolute.
fs::path Under(const fs::path& root, std::string_view path) {
  return root / fs::path(path).relative_path();
}

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::string ReadTrimmed(const fs::path& path) {
  auto content = ReadFileLimited(path, kMaxIdentityFile);
  if (!content) {
    // /proc and /sys files report size 0 and are not "regular" for every kernel; fall
    // back to a plain bounded read.
    FILE* f = std::fopen(path.c_str(), "re");
    if (f == nullptr) return {};
    std::string s(4096, '\0');
    const std::size_t n = std::fread(s.data(), 1, s.size(), f);
    std::fclose(f);
    s.resize(n);
    return Trim(s);
  }
  return Trim(*content);
}

std::string ReadAll(const fs::path& path) {
  auto content = ReadFileLimited(path, kMaxIdentityFile);
  if (content) return *content;
  FILE* f = std::fopen(path.c_str(), "re");
  if (f == nullptr) return {};
  std::string s;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 && s.size() < kMaxIdentityFile) {
    s.append(buf, n);
  }
  std::fclose(f);
  return s;
}

std::string CpuModel(const fs::path& root) {
  const std::string info = ReadAll(Under(root, "/proc/cpuinfo"));
  for (const char* key : {"model name", "Hardware", "cpu model", "Processor"}) {
    std::string_view rest = info;
    while (!rest.empty()) {
      const auto nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
      const auto colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      if (Trim(line.substr(0, colon)) != key) continue;
      std::string value = Trim(line.substr(colon + 1));
      if (!value.empty()) return value;
    }
  }
  return {};
}

void Add(agentproto::Fingerprint& fp, const std::string& name, const std::string& value) {
  if (value.empty() || fp.size() >= agentproto::kMaxFingerprintComponents) return;
  fp[name] = crypto::Sha256Hex(value);
}

}  // namespace

agentproto::Fingerprint ComputeFingerprint(const fs::path& root) {
  agentproto::Fingerprint fp;
  std::string machine_id = ReadTrimmed(Under(root, "/etc/machine-id"));
  if (machine_id.empty()) machine_id = ReadTrimmed(Under(root, "/var/lib/dbus/machine-id"));
  Add(fp, "machine_id", machine_id);
  Add(fp, "product_uuid", ToLowerAscii(ReadTrimmed(Under(root, "/sys/class/dmi/id/product_uuid"))));
  Add(fp, "hostname", ReadTrimmed(Under(root, "/proc/sys/kernel/hostname")));
  Add(fp, "cpu_model", CpuModel(root));

  std::error_code ec;
  const fs::path net = Under(root, "/sys/class/net");
  std::vector<std::string> names;
  for (fs::directory_iterator it(net, ec), end; !ec && it != end; it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  std::sort(names.begin(), names.end());
  const std::string virtual_marker = (Under(root, "/sys/devices/virtual")).lexically_normal();
  for (const std::string& name : names) {
    if (name == "lo" || name.size() > 32) continue;
    std::error_code cec;
    const fs::path real = fs::canonical(net / name, cec);
    if (cec) continue;
    if (real.string().rfind(virtual_marker, 0) == 0) continue;
    const std::string mac = ToLowerAscii(ReadTrimmed(net / name / "address"));
    if (mac.empty() || mac == "00:00:00:00:00:00") continue;
    Add(fp, "mac:" + name, mac);
  }
  return fp;
}

FingerprintMatch CompareFingerprints(const agentproto::Fingerprint& registered,
                                     const agentproto::Fingerprint& current) {
  FingerprintMatch m;
  if (registered.empty()) return m;
  std::size_t same = 0;
  bool machine_id_ok = true;
  for (const auto& [name, value] : registered) {
    auto it = current.find(name);
    if (it != current.end() && it->second == value) {
      ++same;
    } else {
      m.changed.push_back(name);
      if (name == "machine_id") machine_id_ok = false;
    }
  }
  m.similarity = static_cast<double>(same) / static_cast<double>(registered.size());
  m.matches = machine_id_ok && same * 10 >= registered.size() * 6;
  return m;
}

agentproto::PlatformInfo ReadPlatform(const fs::path& root) {
  agentproto::PlatformInfo p;
  const std::string text = ReadAll(Under(root, "/etc/os-release"));
  std::string_view rest = text;
  while (!rest.empty()) {
    const auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string key = Trim(line.substr(0, eq));
    std::string value = Trim(line.substr(eq + 1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    if (key == "NAME") p.name = value;
    if (key == "VERSION_ID") p.version = value;
  }
  if (p.name.empty()) {
    struct utsname u {};
    p.name = "Linux";
    if (::uname(&u) == 0) p.version = u.release;
  }
  return p;
}

std::string ComputerName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return {};
  return buf;
}

std::string PrimaryIpAddress(const std::string& server_host) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  std::string host = server_host;
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (!host.empty() && ::getaddrinfo(host.c_str(), "443", &hints, &res) == 0 && res != nullptr) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    std::string out;
    if (fd >= 0) {
      sockaddr_in local{};
      socklen_t len = sizeof local;
      if (::connect(fd, res->ai_addr, res->ai_addrlen) == 0 &&
          ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0) {
        char text[INET_ADDRSTRLEN] = {};
        if (::inet_ntop(AF_INET, &local.sin_addr, text, sizeof text) != nullptr) out = text;
      }
      ::close(fd);
    }
    ::freeaddrinfo(res);
    // A loopback server (tests) yields 127.0.0.1, which says nothing; look further.
    if (!out.empty() && out.rfind("127.", 0) != 0) return out;
  }
  ifaddrs* ifs = nullptr;
  if (::getifaddrs(&ifs) != 0) return {};
  std::string out;
  for (ifaddrs* i = ifs; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    if ((i->ifa_flags & IFF_LOOPBACK) != 0 || (i->ifa_flags & IFF_UP) == 0) continue;
    char text[INET_ADDRSTRLEN] = {};
    const auto* sin = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
    if (::inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text) != nullptr) {
      out = text;
      break;
    }
  }
  ::freeifaddrs(ifs);
  return out.empty() ? "127.0.0.1" : out;
}

}  // namespace kw::agent
