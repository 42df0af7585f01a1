#include "agentproto/agent_protocol.hpp"

#include <gtest/gtest.h>

namespace kw::agentproto {
namespace {

TEST(AgentProtocol, CommandRoundTrips) {
  CommandMessage c{"cmd-1",
                   "AWS-RunShellScript",
                   {Step{"run", "aws:runShellScript", {"echo a", "echo b"}, "/tmp", 30}}};
  auto m = DecodeControlMessage(Encode(c));
  ASSERT_TRUE(m.has_value());
  ASSERT_EQ(m->type, ControlMessage::Type::kCommand);
  EXPECT_EQ(m->command.command_id, "cmd-1");
  ASSERT_EQ(m->command.steps.size(), 1u);
  EXPECT_EQ(m->command.steps[0].run_command[1], "echo b");
  EXPECT_EQ(m->command.steps[0].timeout_seconds, 30);
  EXPECT_EQ(m->command.steps[0].working_directory, "/tmp");
}

TEST(AgentProtocol, ResultRoundTripsAndRefusesNonFinalStatus) {
  ResultMessage r{"cmd-1", "Failed", 2, {StepResult{"run", "Failed", 2, "out", "err", 1, 2}}};
  auto m = DecodeControlMessage(Encode(r));
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->result.status, "Failed");
  EXPECT_EQ(m->result.steps[0].standard_error, "err");
  r.status = "InProgress";
  auto bad = DecodeControlMessage(Encode(r));
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().reason, "SerializationException");
}

TEST(AgentProtocol, CredentialsRequestChecksSignatureLengthAndFingerprint) {
  CredentialsRequest req{
      "mi-0123456789abcdef0", "chal", std::string(64, 'x'), {{"machine_id", "ab"}}};
  auto ok = DecodeCredentialsRequest(Encode(req));
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->signature, std::string(64, 'x'));
  req.signature = std::string(63, 'x');
  EXPECT_FALSE(DecodeCredentialsRequest(Encode(req)).has_value());
  req.signature = std::string(64, 'x');
  req.fingerprint.clear();
  EXPECT_FALSE(DecodeCredentialsRequest(Encode(req)).has_value());
}

TEST(AgentProtocol, ProofMessageBindsEveryPart) {
  const Fingerprint f{{"a", "1"}, {"b", "2"}};
  const auto base = CredentialProofMessage("mi-1", "c", f);
  EXPECT_NE(base, CredentialProofMessage("mi-2", "c", f));
  EXPECT_NE(base, CredentialProofMessage("mi-1", "d", f));
  EXPECT_NE(base, CredentialProofMessage("mi-1", "c", Fingerprint{{"a", "1"}, {"b", "3"}}));
}

TEST(AgentProtocol, RefusesOversizedAndUnknownMessages) {
  EXPECT_FALSE(DecodeControlMessage(std::string(kMaxMessageBytes + 1, ' ')).has_value());
  EXPECT_FALSE(DecodeControlMessage(R"({"type":"launch"})").has_value());
  EXPECT_FALSE(DecodeControlMessage("[]").has_value());
}

TEST(AgentProtocol, TruncatesAtCharacterBoundaries) {
  EXPECT_EQ(TruncateOutput("abcdef", 3), "abc");
  EXPECT_EQ(TruncateOutput("ab", 3), "ab");
  EXPECT_EQ(TruncateOutput("\xc3\xa9\xc3\xa9\xc3\xa9", 2), "\xc3\xa9\xc3\xa9");
}

}  // namespace
}  // namespace kw::agentproto
