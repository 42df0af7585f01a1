#include "rotation/builtin/agent_sync_delivery.hpp"

#include <gtest/gtest.h>

#include <mutex>

namespace kw::rotation::builtin {
namespace {

// Records what would be sent; every command ends with the status set for its host.
class RecordingSender final : public commands::CommandSender {
 public:
  Result<std::string> SendCommand(const commands::SendCommandRequest& r, TimePoint) override {
    std::lock_guard lock(mu_);
    const std::string id = "cmd-" + std::to_string(sent.size() + 1);
    sent.push_back(r);
    host_of_[id] = r.instance_ids.at(0);
    return id;
  }
  Result<commands::CommandStatusSummary> CommandStatus(std::string_view id) override {
    std::lock_guard lock(mu_);
    commands::CommandStatusSummary s;
    s.command_id = std::string(id);
    s.status = status[host_of_.at(std::string(id))];
    return s;
  }
  std::vector<commands::SendCommandRequest> sent;
  std::map<std::string, std::string> status;

 private:
  std::mutex mu_;
  std::map<std::string, std::string> host_of_;
};

DeliverySpec Spec(std::map<std::string, std::string> p) { return {"agent-sync", std::move(p)}; }

TEST(AgentSyncDeliveryTest, ValidatesTheDestination) {
  RecordingSender sender;
  AgentSyncDelivery d(sender);
  EXPECT_TRUE(d.Validate(Spec({{"path", "/etc/app/credentials"}, {"profile", "app"}})));
  EXPECT_TRUE(d.Validate(Spec({{"format", "credential-process"}, {"user", "app"}})));
  EXPECT_TRUE(d.Validate(Spec({{"format", "env"},
                               {"path", "/etc/app.env"},
                               {"mode", "0640"},
                               {"reload", "systemd:app.service"},
                               {"health_check", "/usr/local/bin/app-check"},
                               {"health_timeout_seconds", "10"},
                               {"timeout_seconds", "600"}})));
  for (const auto& bad : std::vector<std::map<std::string, std::string>>{
           {},                                                         // no path
           {{"path", "relative"}},                                     //
           {{"path", "/x"}, {"format", "yaml"}},                       //
           {{"path", "/x"}, {"mode", "rw-------"}},                    //
           {{"path", "/x"}, {"reload", "restart:app"}},                // not a reload kind
           {{"path", "/x"}, {"reload", "signal:SIGKILL:/run/a.pid"}},  //
           {{"path", "/x"}, {"reload_timeout_seconds", "0"}},          //
           {{"path", "/x"}, {"health_check", "a\nb"}},                 //
           {{"path", "/x"}, {"user", "app"}},                          // not credential-process
           {{"path", "/x"}, {"format", "json"}, {"profile", "app"}},   //
           {{"format", "credential-process"}},                         // no user
           {{"format", "credential-process"}, {"user", "a"}, {"path", "/x"}},
           {{"path", "/x"}, {"document", "AWS-RunShellScript"}},  // not this kind's
       }) {
    EXPECT_EQ(d.Validate(Spec(bad)).error().code, ErrorCode::kInvalidArgument);
  }
}

TEST(AgentSyncDeliveryTest, SendsTheBuiltInDocumentWithoutTheKey) {
  RecordingSender sender;
  AgentSyncDelivery d(sender);
  DeliveryRequest req;
  req.secret_id = "app/creds";
  req.version_id = "v-42";
  req.hosts = {"mi-00000000000000001", "mi-00000000000000002"};
  req.spec = Spec({{"path", "/etc/app/credentials"},
                   {"profile", "app"},
                   {"reload", "command:systemctl kill -s HUP app"},
                   {"timeout_seconds", "600"}});
  auto id = d.Start(req, TimePoint{});
  ASSERT_TRUE(id.has_value()) << id.error().message;
  ASSERT_EQ(sender.sent.size(), 2u);  // one command per host: per-host status
  const auto& cmd = sender.sent[0];
  EXPECT_EQ(cmd.document_name, "Keyward-SyncSecret");
  EXPECT_EQ(cmd.instance_ids, std::vector<std::string>{"mi-00000000000000001"});
  EXPECT_EQ(cmd.timeout_seconds, 600);
  EXPECT_EQ(cmd.parameters, (std::map<std::string, std::vector<std::string>>{
                                {"SecretId", {"app/creds"}},
                                {"VersionId", {"v-42"}},
                                {"Path", {"/etc/app/credentials"}},
                                {"Profile", {"app"}},
                                {"Reload", {"command:systemctl kill -s HUP app"}}}));

  sender.status["mi-00000000000000001"] = "Success";
  sender.status["mi-00000000000000002"] = "Failed";
  auto hosts = d.Poll(*id, TimePoint{});
  ASSERT_TRUE(hosts.has_value());
  EXPECT_EQ(hosts->at("mi-00000000000000001").state, HostDeliveryState::kAcked);
  const HostDelivery& failed = hosts->at("mi-00000000000000002");
  EXPECT_EQ(failed.state, HostDeliveryState::kFailed);
  EXPECT_NE(failed.reason.find("mi-00000000000000002"), std::string::npos);
  EXPECT_NE(failed.reason.find("previous key"), std::string::npos);
}

TEST(AgentSyncDeliveryTest, CredentialProcessDefaultsToMode0400) {
  auto doc =
      AgentSyncDelivery::DocumentSpec(Spec({{"format", "credential-process"}, {"user", "app"}}));
  ASSERT_TRUE(doc.has_value());
  EXPECT_EQ(doc->parameters.at("param:Mode"), "0400");
  EXPECT_EQ(doc->parameters.at("param:User"), "app");
}

}  // namespace
}  // namespace kw::rotation::builtin
