#include "server/server_app.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <ostream>
#include <thread>

#include "api/agent/agent_endpoints.hpp"
#include "api/agent/control_channel.hpp"
#include "api/http/dispatcher.hpp"
#include "api/http/metrics.hpp"
#include "api/iam/policies_api.hpp"
#include "api/iam/users_api.hpp"
#include "api/keyward/rotation_api.hpp"
#include "api/secretsmanager/secretsmanager_api.hpp"
#include "api/ssm/commands/commands_api.hpp"
#include "api/ssm/documents/document_tags.hpp"
#include "api/ssm/documents/documents_api.hpp"
#include "api/ssm/fleet/fleet_api.hpp"
#include "api/ssm/fleet/fleet_tags.hpp"
#include "api/ssm/tags/tags_api.hpp"
#include "api/ssm/windows/window_tags.hpp"
#include "api/ssm/windows/windows_api.hpp"
#include "api/sts/sts_api.hpp"
#include "commands/command_service.hpp"
#include "common/atomic_file.hpp"
#include "crypto/aead.hpp"
#include "crypto/csprng.hpp"
#include "documents/document_service.hpp"
#include "fleet/fleet_service.hpp"
#include "iam/ids.hpp"
#include "iam/policy_service.hpp"
#include "iam/user_service.hpp"
#include "rotation/builtin/document_delivery.hpp"
#include "rotation/builtin/iam_issuer.hpp"
#include "rotation/builtin/secrets_target.hpp"
#include "rotation/failpoints.hpp"
#include "rotation/rotation_engine.hpp"
#include "secrets/secret_service.hpp"
#include "server/data_dir.hpp"
#include "server/http_server.hpp"
#include "store/sqlite/sqlite_kv_store.hpp"
#include "sts/sts_service.hpp"
#include "windows/maintenance_window_service.hpp"

namespace kw::server {
namespace {

constexpr std::string_view kMetaTable = "meta";
constexpr std::string_view kAdminUser = "admin";
constexpr std::string_view kAdminPolicyArn = "arn:aws:iam::aws:policy/AdministratorAccess";

// The account ID is minted once and kept in the store, so that every replica and
// every restart reports the same one.
Result<iam::Account> LoadOrCreateAccount(store::KvStore& store, Random& random) {
  iam::Account account;
  Status s = store.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kMetaTable, "account_id"));
    if (item) {
      account.id = item->value;
      return OkStatus();
    }
    account.id = iam::NewAccountId(random);
    return txn.Insert(kMetaTable, "account_id", account.id).has_value()
               ? OkStatus()
               : Status(Internal("cannot record the account ID"));
  });
  if (!s) return s.error();
  return account;
}

// First start: an administrator with AdministratorAccess and one access key, written
// to DIR/admin-credentials (0600). Crash-safe: the "bootstrap" record is written last,
// so an interrupted bootstrap is redone (the half-made admin's keys are replaced).
Status BootstrapAdmin(const ServerConfig& config, store::KvStore& store, iam::UserService& users,
                      iam::PolicyService& policies, std::ostream& out) {
  KW_ASSIGN_OR_RETURN(auto done, store.Get(kMetaTable, "bootstrap"));
  if (done) return OkStatus();

  auto existing = users.GetUser(kAdminUser, nullptr);
  if (!existing) {
    iam::CreateUserRequest req;
    req.user_name = std::string(kAdminUser);
    req.tags = {{"keyward:role", "administrator"}};
    KW_RETURN_IF_ERROR(users.CreateUser(req));
  }
  auto attached = policies.AttachUserPolicy(kAdminUser, kAdminPolicyArn);
  if (!attached && attached.error().reason != "EntityAlreadyExists") return attached.error();

  KW_ASSIGN_OR_RETURN(auto keys,
                      users.ListAccessKeys(kAdminUser, std::nullopt, std::nullopt, nullptr));
  for (const auto& key : keys.keys) {
    KW_RETURN_IF_ERROR(users.DeleteAccessKey(kAdminUser, key.access_key_id, nullptr));
  }
  KW_ASSIGN_OR_RETURN(iam::CreatedAccessKey key, users.CreateAccessKey(kAdminUser, nullptr));
  const auto path = config.data_dir / "admin-credentials";
  const SecretBytes text(
      SharedCredentialsText("default", key.metadata.access_key_id, key.secret_access_key));
  KW_RETURN_IF_ERROR(WriteFileAtomic(path, text.Reveal(), 0600));
  KW_RETURN_IF_ERROR(store.Transact([&](store::Txn& txn) -> Status {
    auto r = txn.Put(
        kMetaTable, "bootstrap",
        nlohmann::json{{"admin_user", kAdminUser}, {"access_key_id", key.metadata.access_key_id}}
            .dump());
    if (!r) return r.error();
    return OkStatus();
  }));
  out << "keyward: created administrator '" << kAdminUser << "' (access key "
      << key.metadata.access_key_id << ")\n"
      << "keyward: its credentials are in " << std::filesystem::absolute(path).string()
      << " (profile default, mode 0600)\n";
  return OkStatus();
}

// Background upkeep on its own thread: flushes key usage to the store every interval
// (and once more on stop), purges expired STS sessions and secrets whose recovery
// window has ended.
class Maintenance {
 public:
  Maintenance(iam::UserService& users, sts::StsService& sts, secrets::SecretService& secrets,
              const Clock& clock, std::chrono::seconds interval)
      : users_(users),
        sts_(sts),
        secrets_(secrets),
        clock_(clock),
        interval_(interval),
        thread_([this] { Loop(); }) {}
  ~Maintenance() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    Flush();
  }

 private:
  void Loop() {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, interval_, [this] { return stop_; })) {
      lock.unlock();
      Flush();
      if (auto purged = sts_.PurgeExpiredSessions(clock_.Now()); !purged) {
        spdlog::warn("could not purge expired sessions: {}", purged.error().message);
      }
      if (auto purged = secrets_.PurgeDue(clock_.Now()); !purged) {
        spdlog::warn("could not purge deleted secrets: {}", purged.error().message);
      }
      lock.lock();
    }
  }
  void Flush() {
    if (Status s = users_.FlushUsage(); !s) {
      spdlog::warn("could not record access-key usage: {}", s.error().message);
    }
  }

  iam::UserService& users_;
  sts::StsService& sts_;
  secrets::SecretService& secrets_;
  const Clock& clock_;
  std::chrono::seconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

// Once a second on its own thread: Run Command's delivery timeouts and batched writes,
// then the maintenance-window scheduler (which sends commands synchronously, so it must
// not run on the transport's threads), then the access-key rotation engine (whose steps
// call IAM, Secrets Manager and Run Command synchronously too).
class Scheduler {
 public:
  Scheduler(commands::CommandService& commands, windows::MaintenanceWindowService& windows,
            fleet::FleetService& fleet, rotation::RotationEngine& rotation, const Clock& clock)
      : commands_(commands),
        windows_(windows),
        fleet_(fleet),
        rotation_(rotation),
        clock_(clock),
        thread_([this] { Loop(); }) {}
  ~Scheduler() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    FlushPresence();
  }

 private:
  void Loop() {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; })) {
      lock.unlock();
      if (Status s = commands_.Tick(clock_.Now()); !s) {
        spdlog::warn("run command upkeep failed: {}", s.error().message);
      }
      if (Status s = windows_.Tick(clock_.Now()); !s) {
        spdlog::warn("maintenance window scheduler: {}", s.error().message);
      }
      // A rotation's own errors are recorded in it (waiting reason); a Tick error is a
      // store failure or a "crash" failpoint, retried on the next tick.
      if (auto r = rotation_.Tick(clock_.Now()); !r) {
        spdlog::warn("rotation engine: {}", r.error().message);
      }
      // Heartbeats live in memory; write LastPingDateTime out once a minute.
      if (++ticks_ % 60 == 0) FlushPresence();
      lock.lock();
    }
  }

  void FlushPresence() {
    if (auto s = fleet_.FlushPresence(); !s) {
      spdlog::warn("could not record agent presence: {}", s.error().message);
    }
  }

  commands::CommandService& commands_;
  windows::MaintenanceWindowService& windows_;
  fleet::FleetService& fleet_;
  rotation::RotationEngine& rotation_;
  const Clock& clock_;
  long ticks_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

// Every agent holds one connection: lift the soft open-file limit to the hard one so a
// large fleet is not refused at 1,024 descriptors.
void RaiseFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
      spdlog::warn("could not raise the open-file limit");
    }
  }
}

Status Serve(const ServerConfig& config, std::ostream& out) {
  KW_RETURN_IF_ERROR(EnsurePrivateDir(config.data_dir));
  SystemClock clock;
  crypto::Csprng random;
  KW_ASSIGN_OR_RETURN(LoadedKeyring master, LoadOrCreateKeyring(config.data_dir, random));
  if (master.created) {
    out << "keyward: created master key " << master.keyring.primary << " in "
        << (config.data_dir / "master.key").string() << " (mode 0600)\n";
  }
  KW_ASSIGN_OR_RETURN(auto store, store::SqliteKvStore::Open(config.data_dir / "keyward.db"));
  // `keyward master-key rotate` rewrites the keyring file while we run: re-read it (at
  // most once a second) when a value names a key we lack, and so that writes move to
  // the new primary. A key from the environment has no file to re-read.
  crypto::Envelope::ReloadFn reload;
  if (!master.from_env) {
    reload = [dir = config.data_dir]() { return ReadKeyringFile(dir); };
  }
  const crypto::Envelope envelope(std::move(master.keyring), random, std::move(reload), &clock);
  KW_ASSIGN_OR_RETURN(iam::Account account, LoadOrCreateAccount(*store, random));

  iam::UserService users(*store, envelope, clock, random, account);
  iam::PolicyService policies(*store, clock, random, account, users);
  users.SetDependents(&policies);
  KW_RETURN_IF_ERROR(policies.EnsureAwsManagedPolicies());
  sts::StsService sts(*store, envelope, clock, random, account, policies);
  secrets::SecretService secrets(*store, envelope, clock, random, account);
  fleet::FleetService fleet(*store, clock, random, account, sts, policies);
  sts.SetInstanceChecker(&fleet);
  documents::DocumentService documents(*store, clock, account);
  commands::CommandService commands(*store, clock, random, account, documents, fleet);
  windows::MaintenanceWindowService windows(*store, clock, random, account, commands, fleet);
  KW_RETURN_IF_ERROR(BootstrapAdmin(config, *store, users, policies, out));

  // Access-key rotation over keyward's own IAM, Secrets Manager and Run Command.
  // KW_FAILPOINTS ("name=off|error|crash|abort[@skip],...", rotation/failpoints.hpp)
  // arms fault-injection points for the crash/restart tests; unset, they are inert. A
  // malformed value refuses to start rather than running without the intended faults.
  rotation::Failpoints failpoints;
  if (const char* spec = std::getenv("KW_FAILPOINTS"); spec != nullptr && *spec != '\0') {
    KW_RETURN_IF_ERROR(failpoints.Configure(spec));
    spdlog::warn("failpoints armed from KW_FAILPOINTS: {}", spec);
  }
  rotation::builtin::KeyAttemptLog key_attempts;
  rotation::builtin::IamIssuer iam_issuer(users, clock, &key_attempts);
  rotation::builtin::SecretsTarget secrets_target(secrets);
  rotation::builtin::DocumentDelivery document_delivery(commands);
  rotation::RotationEngine rotation_engine(*store, clock, random, rotation::EngineOptions{},
                                           failpoints);
  rotation_engine.RegisterIssuer("builtin", iam_issuer);
  rotation_engine.RegisterSecretTarget("builtin", secrets_target);
  rotation_engine.RegisterDelivery("document", document_delivery);
  rotation_engine.SetInstanceDirectory(&fleet);

  api::Metrics metrics;
  api::PrefixCredentialResolver credentials(users, sts);
  api::Dispatcher dispatcher(
      api::DispatcherDeps{clock, random, credentials, policies, users, metrics});
  api::QueryService iam_service{"iam", "iam", "https://iam.amazonaws.com/doc/2010-05-08/",
                                "2010-05-08", api::UserOperations(users, account)};
  for (auto& op : api::PolicyOperations(policies, account)) {
    iam_service.operations.push_back(std::move(op));
  }
  dispatcher.AddQueryService(std::move(iam_service));
  dispatcher.AddQueryService(api::StsQueryService(sts, policies, account));
  dispatcher.AddJsonService(api::SecretsManagerJsonService(secrets, account));
  api::JsonService ssm{"ssm", "AmazonSSM", "ssm", api::FleetOperations(fleet, account)};
  api::FleetTagAccess instance_tags(fleet, fleet::TagResourceType::kManagedInstance, account);
  api::FleetTagAccess activation_tags(fleet, fleet::TagResourceType::kActivation, account);
  api::DocumentTagAccess document_tags(documents);
  api::WindowTagAccess window_tags(windows);
  for (auto ops :
       {api::DocumentOperations(documents, account), api::CommandOperations(commands, account),
        api::WindowOperations(windows, account),
        api::TagOperations({{"ManagedInstance", &instance_tags},
                            {"Activation", &activation_tags},
                            {"Document", &document_tags},
                            {"MaintenanceWindow", &window_tags}})}) {
    for (auto& op : ops) ssm.operations.push_back(std::move(op));
  }
  dispatcher.AddJsonService(std::move(ssm));
  api::JsonService keyward_service{"keyward", "Keyward", "keyward",
                                   api::KeywardFleetOperations(fleet, account)};
  for (auto& op : api::RotationOperations(rotation_engine, account)) {
    keyward_service.operations.push_back(std::move(op));
  }
  dispatcher.AddJsonService(std::move(keyward_service));
  api::AgentEndpoints agent_endpoints(fleet, clock, random);
  dispatcher.SetAgentHandler(&agent_endpoints);
  api::ControlChannel control_channel(api::ControlChannelDeps{
      clock, [&dispatcher](const HttpRequest& r) { return dispatcher.Authenticate(r); }, fleet,
      commands, [](const std::string& line) { spdlog::warn("control channel: {}", line); }});
  commands.SetNotifier(&control_channel);
  fleet.SetDeregistrationHook(
      [&control_channel](std::string_view id) { control_channel.Disconnect(id); });
  RaiseFileLimit();

  HttpServerConfig http;
  http.host = config.listen_host;
  http.port = config.listen_port;
  http.threads = config.threads;
  http.max_body_bytes = config.max_body_bytes;
  http.max_header_bytes = config.max_header_bytes;
  http.tls_cert_chain_file = config.tls_cert_file;
  http.tls_private_key_file = config.tls_key_file;
  KW_ASSIGN_OR_RETURN(auto server, HttpServer::Start(http, dispatcher, &control_channel));
  Maintenance maintenance(users, sts, secrets, clock, config.usage_flush_interval);
  Scheduler scheduler(commands, windows, fleet, rotation_engine, clock);
  dispatcher.SetReady(true);
  out << "keyward: account " << account.id << ", listening on "
      << (config.tls_cert_file.empty() ? "http://" : "https://") << config.listen_host << ":"
      << server->port() << "\n"
      << std::flush;
  spdlog::info("keyward server ready on {}:{}", config.listen_host, server->port());
  KW_RETURN_IF_ERROR(server->RunUntilSignal());
  dispatcher.SetReady(false);
  // The transport has stopped; no more deliveries. Write what Run Command still holds.
  commands.SetNotifier(nullptr);
  fleet.SetDeregistrationHook(nullptr);
  if (Status s = commands.Flush(); !s) spdlog::warn("run command flush: {}", s.error().message);
  sts.SetInstanceChecker(nullptr);
  spdlog::info("keyward server stopped");
  return OkStatus();
}

}  // namespace

int RunServer(const ServerConfig& config, std::ostream& out) {
  Status s = Serve(config, out);
  if (!s) {
    spdlog::error("keyward server: {}", s.error().message);
    return 1;
  }
  return 0;
}

}  // namespace kw::server
