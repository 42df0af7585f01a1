#include "fleet/fingerprint.hpp"

#include <gtest/gtest.h>

#include "fleet/cidr.hpp"

namespace kw::fleet {
namespace {

const agentproto::Fingerprint kHost = {{"machine_id", "a"},
                                       {"product_uuid", "b"},
                                       {"hostname", "c"},
                                       {"cpu_model", "d"},
                                       {"mac:eth0", "e"}};

TEST(FingerprintTest, IdenticalMatches) {
  const FingerprintMatch m = CompareFingerprints(kHost, kHost);
  EXPECT_TRUE(m.accepted);
  EXPECT_DOUBLE_EQ(m.similarity, 1.0);
  EXPECT_TRUE(m.changed.empty());
}

TEST(FingerprintTest, OneReplacedNicAndRenamedHostStillMatch) {
  agentproto::Fingerprint now = kHost;
  now.erase("mac:eth0");
  now["mac:eth1"] = "x";  // new components do not count
  now["hostname"] = "renamed";
  const FingerprintMatch m = CompareFingerprints(kHost, now);
  EXPECT_TRUE(m.accepted);  // exactly 3 of 5: at the 60% threshold
  EXPECT_DOUBLE_EQ(m.similarity, 0.6);
  EXPECT_EQ(m.changed, (std::vector<std::string>{"hostname", "mac:eth0"}));
}

TEST(FingerprintTest, BelowThresholdRefused) {
  agentproto::Fingerprint now = kHost;
  now["hostname"] = "x";
  now["mac:eth0"] = "y";
  now["cpu_model"] = "z";
  const FingerprintMatch m = CompareFingerprints(kHost, now);
  EXPECT_FALSE(m.accepted);
  EXPECT_DOUBLE_EQ(m.similarity, 0.4);
  EXPECT_TRUE(m.machine_id_matches);
}

TEST(FingerprintTest, ChangedMachineIdRefusedEvenWhenSimilar) {
  agentproto::Fingerprint now = kHost;
  now["machine_id"] = "other";
  const FingerprintMatch m = CompareFingerprints(kHost, now);
  EXPECT_DOUBLE_EQ(m.similarity, 0.8);
  EXPECT_FALSE(m.machine_id_matches);
  EXPECT_FALSE(m.accepted);
  now.erase("machine_id");  // absent counts as changed
  EXPECT_FALSE(CompareFingerprints(kHost, now).accepted);
}

TEST(FingerprintTest, WithoutRegisteredMachineIdOnlyTheShareCounts) {
  agentproto::Fingerprint reg = kHost;
  reg.erase("machine_id");
  agentproto::Fingerprint now = reg;
  now["hostname"] = "x";
  EXPECT_TRUE(CompareFingerprints(reg, now).accepted);  // 3 of 4
  now["cpu_model"] = "y";
  EXPECT_FALSE(CompareFingerprints(reg, now).accepted);  // 2 of 4
}

TEST(FingerprintTest, EmptyRegisteredNeverMatches) {
  EXPECT_FALSE(CompareFingerprints({}, kHost).accepted);
  EXPECT_FALSE(CompareFingerprints({}, {}).accepted);
}

TEST(CidrTest, ParsesAndContains) {
  auto net = ParseCidrBlock("10.1.0.0/16");
  ASSERT_TRUE(net.has_value());
  EXPECT_TRUE(CidrContainsAddress(*net, "10.1.200.3"));
  EXPECT_FALSE(CidrContainsAddress(*net, "10.2.0.1"));
  EXPECT_FALSE(CidrContainsAddress(*net, "::1"));
  EXPECT_FALSE(CidrContainsAddress(*net, "garbage"));
  EXPECT_TRUE(CidrContainsAddress(*net, "::ffff:10.1.2.3"));  // IPv4-mapped
  auto odd = ParseCidrBlock("192.168.0.0/23");
  ASSERT_TRUE(odd.has_value());
  EXPECT_TRUE(CidrContainsAddress(*odd, "192.168.1.255"));
  EXPECT_FALSE(CidrContainsAddress(*odd, "192.168.2.0"));
  auto v6 = ParseCidrBlock("2001:db8::/32");
  ASSERT_TRUE(v6.has_value());
  EXPECT_TRUE(CidrContainsAddress(*v6, "2001:db8:1::5"));
  EXPECT_FALSE(CidrContainsAddress(*v6, "2001:db9::5"));
  auto host = ParseCidrBlock("127.0.0.1");
  ASSERT_TRUE(host.has_value());
  EXPECT_TRUE(CidrContainsAddress(*host, "127.0.0.1"));
  EXPECT_FALSE(CidrContainsAddress(*host, "127.0.0.2"));
  EXPECT_TRUE(CidrContainsAddress(*ParseCidrBlock("0.0.0.0/0"), "8.8.8.8"));
}

TEST(CidrTest, RejectsMalformed) {
  for (const char* bad : {"", "10.0.0.0/33", "10.0.0.0/", "10.0.0/8", "::/129", "a.b.c.d/8",
                          "10.0.0.0/8/8", "10.0.0.0/-1"}) {
    EXPECT_FALSE(ParseCidrBlock(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace kw::fleet
