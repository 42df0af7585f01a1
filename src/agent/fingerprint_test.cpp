#include "agent/fingerprint.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "crypto/digest.hpp"

namespace kw::agent {
namespace {

namespace fs = std::filesystem;

class FakeRoot : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kw_agent_fp_XXXXXX";
    root_ = ::mkdtemp(tmpl);
    Write("etc/machine-id", "0123456789abcdef0123456789abcdef\n");
    Write("sys/class/dmi/id/product_uuid", "4C4C4544-0000-1111-2222-333344445555\n");
    Write("proc/sys/kernel/hostname", "web-1\n");
    Write("proc/cpuinfo",
          "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) "
          "CPU E5-2680\n\nprocessor\t: 1\nmodel name\t: Intel(R) Xeon(R) CPU E5-2680\n");
    Write("etc/os-release",
          "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
          "NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n");
    AddInterface("eth0", "devices/pci0000:00/0000:00:03.0/net/eth0", "52:54:00:AB:CD:EF");
    AddInterface("eth1", "devices/pci0000:00/0000:00:04.0/net/eth1", "52:54:00:11:22:33");
    AddInterface("docker0", "devices/virtual/net/docker0", "02:42:ac:11:00:02");
    AddInterface("lo", "devices/virtual/net/lo", "00:00:00:00:00:00");
  }
  void TearDown() override { fs::remove_all(root_); }

  void Write(const std::string& rel, const std::string& content) {
    fs::create_directories((root_ / rel).parent_path());
    std::ofstream(root_ / rel) << content;
  }
  void AddInterface(const std::string& name, const std::string& device, const std::string& mac) {
    Write("sys/" + device + "/address", mac + "\n");
    fs::create_directories(root_ / "sys/class/net");
    fs::create_directory_symlink("../../" + device, root_ / "sys/class/net" / name);
  }

  fs::path root_;
};

TEST_F(FakeRoot, HashesEachIdentifierAndSkipsVirtualInterfaces) {
  const auto fp = ComputeFingerprint(root_);
  EXPECT_EQ(fp.at("machine_id"), crypto::Sha256Hex("0123456789abcdef0123456789abcdef"));
  EXPECT_EQ(fp.at("product_uuid"), crypto::Sha256Hex("4c4c4544-0000-1111-2222-333344445555"));
  EXPECT_EQ(fp.at("hostname"), crypto::Sha256Hex("web-1"));
  EXPECT_EQ(fp.at("cpu_model"), crypto::Sha256Hex("Intel(R) Xeon(R) CPU E5-2680"));
  EXPECT_EQ(fp.at("mac:eth0"), crypto::Sha256Hex("52:54:00:ab:cd:ef"));
  EXPECT_EQ(fp.at("mac:eth1"), crypto::Sha256Hex("52:54:00:11:22:33"));
  EXPECT_EQ(fp.count("mac:docker0"), 0u);
  EXPECT_EQ(fp.count("mac:lo"), 0u);
  EXPECT_EQ(fp.size(), 6u);
}

TEST_F(FakeRoot, FallsBackToDbusMachineIdAndOmitsUnreadableParts) {
  fs::remove(root_ / "etc/machine-id");
  fs::remove(root_ / "sys/class/dmi/id/product_uuid");
  Write("var/lib/dbus/machine-id", "feedface\n");
  const auto fp = ComputeFingerprint(root_);
  EXPECT_EQ(fp.at("machine_id"), crypto::Sha256Hex("feedface"));
  EXPECT_EQ(fp.count("product_uuid"), 0u);
}

TEST_F(FakeRoot, OneChangedNicStillMatchesAnotherMachineIdDoesNot) {
  const auto registered = ComputeFingerprint(root_);
  fs::remove(root_ / "sys/devices/pci0000:00/0000:00:04.0/net/eth1/address");
  Write("sys/devices/pci0000:00/0000:00:04.0/net/eth1/address", "52:54:00:99:99:99\n");
  Write("proc/sys/kernel/hostname", "web-1-renamed\n");
  auto m = CompareFingerprints(registered, ComputeFingerprint(root_));
  EXPECT_TRUE(m.matches);
  EXPECT_NEAR(m.similarity, 4.0 / 6.0, 1e-9);
  EXPECT_EQ(m.changed, (std::vector<std::string>{"hostname", "mac:eth1"}));

  Write("etc/machine-id", "ffffffffffffffffffffffffffffffff\n");
  m = CompareFingerprints(registered, ComputeFingerprint(root_));
  EXPECT_FALSE(m.matches);  // machine_id must match even at 50%

  const auto copy = registered;
  auto other = registered;
  other["product_uuid"] = "x";
  other["cpu_model"] = "x";
  other["mac:eth0"] = "x";
  EXPECT_FALSE(CompareFingerprints(copy, other).matches);  // 50% < 60%
}

TEST_F(FakeRoot, ReadsPlatformFromOsRelease) {
  const auto p = ReadPlatform(root_);
  EXPECT_EQ(p.name, "Debian GNU/Linux");
  EXPECT_EQ(p.version, "12");
  EXPECT_EQ(p.type, "Linux");
}

}  // namespace
}  // namespace kw::agent
