#include "server/server_app.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <thread>

#include "api/agent/agent_endpoints.hpp"
#include "api/agent/control_channel.hpp"
#include "api/cloudtrail/cloudtrail_api.hpp"
#include "api/cloudtrail/event_observer.hpp"
#include "api/http/dispatcher.hpp"
#include "api/http/metrics.hpp"
#include "api/iam/policies_api.hpp"
#include "api/iam/users_api.hpp"
#include "api/keyward/audit_api.hpp"
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
#include "audit/event_log_source.hpp"
#include "commands/command_service.hpp"
#include "common/atomic_file.hpp"
#include "common/strings.hpp"
#include "crypto/aead.hpp"
#include "crypto/csprng.hpp"
#include "directory/ldap/ldap_source.hpp"
#include "documents/document_service.hpp"
#include "events/event_log.hpp"
#include "events/event_recorder.hpp"
#include "events/signing_key.hpp"
#include "fleet/fleet_service.hpp"
#include "iam/ids.hpp"
#include "iam/policy_service.hpp"
#include "iam/user_service.hpp"
#include "notify/outbox.hpp"
#include "notify/sender.hpp"
#include "rotation/builtin/agent_sync_delivery.hpp"
#include "rotation/builtin/document_delivery.hpp"
#include "rotation/builtin/iam_issuer.hpp"
#include "rotation/builtin/secrets_target.hpp"
#include "rotation/failpoints.hpp"
#include "rotation/rotation_engine.hpp"
#include "secrets/secret_service.hpp"
#include "server/data_dir.hpp"
#include "server/http_server.hpp"
#include "server/integrations.hpp"
#include "server/rotate_once.hpp"
#include "server/rotation_links.hpp"
#include "store/sqlite/sqlite_kv_store.hpp"
#include "sts/sts_service.hpp"
#include "windows/maintenance_window_service.hpp"

namespace kw::server {
namespace {

constexpr std::string_view kMetaTable = "meta";
constexpr std::string_view kAdminUser = "admin";
constexpr std::string_view kAdminPolicyArn = "arn:aws:iam::aws:policy/AdministratorAccess";

// The configured directory source: an ldap:// or ldaps:// URL, else an export file;
// null when none is configured.
Result<std::unique_ptr<directory::DirectorySource>> MakeDirectorySource(
    const ServerConfig& config) {
  const std::string& src = config.directory_source;
  if (src.empty()) return std::unique_ptr<directory::DirectorySource>();
  if (src.rfind("ldap://", 0) != 0 && src.rfind("ldaps://", 0) != 0) {
    return std::unique_ptr<directory::DirectorySource>(
        std::make_unique<directory::FileSource>(src));
  }
  directory::LdapConfig ldap;
  ldap.url = src;
  ldap.bind_dn = config.directory_bind_dn;
  if (!config.directory_password_file.empty()) {
    std::ifstream in(config.directory_password_file, std::ios::binary);
    if (!in) {
      return InvalidArgument("cannot read --directory-password-file " +
                             config.directory_password_file);
    }
    std::string password((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) {
      password.pop_back();
    }
    ldap.bind_password = SecretBytes(std::move(password));
  }
  return std::unique_ptr<directory::DirectorySource>(
      std::make_unique<directory::LdapSource>(std::move(ldap)));
}

audit::AuditPolicy MakeAuditPolicy(const ServerConfig& config) {
  audit::AuditPolicy policy;
  policy.owner_tag = config.owner_tag;
  policy.key_max_age = audit::Days(config.audit_key_max_age_days);
  policy.first_use_gap = config.audit_first_use_gap;
  policy.consumer_learning = config.audit_consumer_learning;
  std::string_view rest = config.audit_exempt;
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    std::string item(rest.substr(0, comma));
    rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma + 1);
    if (!item.empty()) policy.exempt.insert(ToLowerAscii(item));
  }
  return policy;
}

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
            fleet::FleetService& fleet, rotation::RotationEngine& rotation, const Clock& clock,
            std::chrono::milliseconds rotation_tick)
      : commands_(commands),
        windows_(windows),
        fleet_(fleet),
        rotation_(rotation),
        clock_(clock),
        rotation_tick_(rotation_tick),
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
    using Steady = std::chrono::steady_clock;
    auto next_upkeep = Steady::now() + std::chrono::seconds(1);
    auto next_rotation = Steady::now() + rotation_tick_;
    std::unique_lock lock(mu_);
    while (!cv_.wait_until(lock, std::min(next_upkeep, next_rotation), [this] { return stop_; })) {
      lock.unlock();
      if (Steady::now() >= next_upkeep) {
        next_upkeep = Steady::now() + std::chrono::seconds(1);
        if (Status s = commands_.Tick(clock_.Now()); !s) {
          spdlog::warn("run command upkeep failed: {}", s.error().message);
        }
        if (Status s = windows_.Tick(clock_.Now()); !s) {
          spdlog::warn("maintenance window scheduler: {}", s.error().message);
        }
        // Heartbeats live in memory; write LastPingDateTime out once a minute.
        if (++ticks_ % 60 == 0) FlushPresence();
      }
      if (Steady::now() >= next_rotation) {
        next_rotation = Steady::now() + rotation_tick_;
        // A rotation's own errors are recorded in it (waiting reason); a Tick error is a
        // store failure or a "crash" failpoint, retried on the next tick.
        const TimePoint now = clock_.Now();
        auto r = rotation_.Tick(now);
        if (!r) {
          spdlog::warn("rotation engine: {}", r.error().message);
        } else if (r->next_wake) {
          // A quiet period, grace period or back-off that ends before the next regular
          // tick: look then, not a whole tick later (but not sooner than 20 ms, so that
          // ends close together are taken by one Tick).
          const auto in = std::max<std::chrono::nanoseconds>(*r->next_wake - clock_.Now(),
                                                             std::chrono::milliseconds(20));
          next_rotation = std::min(next_rotation, Steady::now() + in);
        }
      }
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
  const std::chrono::milliseconds rotation_tick_;
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

// `once` set: compose everything up to the rotation engine, run it until idle
// (`keyward rotate --once`, rotate_once.hpp) and return without serving.
struct RotateOnceRun {
  RotateOnceOptions options;
  int exit_code = kRotateOnceIdle;
};

Status Serve(const ServerConfig& config, std::ostream& out, RotateOnceRun* once = nullptr) {
  KW_RETURN_IF_ERROR(EnsurePrivateDir(config.data_dir));
  // The engine's steps must not run in two processes over one store: a server and a
  // `rotate --once` (or two of either) would race on the same rotation.
  KW_ASSIGN_OR_RETURN(
      FileLock engine_lock,
      FileLock::Take(config.data_dir / kRotationLockFileName,
                     once != nullptr ? "a keyward server (or another rotate --once) is running "
                                       "on this data directory; it runs the rotations itself"
                                     : "another keyward process is running on this data "
                                       "directory (a server or rotate --once)"));
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
  // The event log (docs/events.md), declared before everything that records into it so
  // that it is destroyed (queue written, head signed) after they have stopped.
  std::unique_ptr<events::EventLog> event_log;
  std::unique_ptr<events::EventRecorder> event_recorder;
  if (config.events_enabled) {
    const std::filesystem::path key_path = config.events_signing_key.empty()
                                               ? config.data_dir / "events-signing.key"
                                               : std::filesystem::path(config.events_signing_key);
    KW_ASSIGN_OR_RETURN(events::SigningKey signing_key, events::LoadOrCreateSigningKey(key_path));
    if (signing_key.created) {
      out << "keyward: created event-log signing key " << key_path.string() << " (mode 0600)\n";
    }
    KW_ASSIGN_OR_RETURN(event_log,
                        events::EventLog::Open(*store, std::move(signing_key.private_key_pem)));
    events::RecorderOptions recorder_options;
    recorder_options.account_id = account.id;
    recorder_options.region = account.region;
    if (config.events_retention_days > 0) {
      recorder_options.retention = std::chrono::hours(24) * config.events_retention_days;
    }
    recorder_options.log_warning = [](const std::string& line) {
      spdlog::warn("event log: {}", line);
    };
    event_recorder =
        std::make_unique<events::EventRecorder>(*event_log, clock, random, recorder_options);
  }

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
  rotation::builtin::AgentSyncDelivery agent_sync_delivery(commands);
  // Webhooks (docs/notifications.md): a bad spec or secret file refuses to start. With
  // none configured nothing is written to the outbox, which would only grow.
  std::vector<notify::Webhook> webhooks;
  for (const std::string& spec : config.webhooks) {
    KW_ASSIGN_OR_RETURN(notify::WebhookConfig wc, notify::ParseWebhookFlag(spec));
    // rotate --once: no attempt may outlast the run's whole delivery deadline.
    if (once != nullptr) {
      wc.timeout = std::min<std::chrono::milliseconds>(
          wc.timeout, std::max<std::chrono::milliseconds>(once->options.notify_timeout,
                                                          std::chrono::seconds(1)));
    }
    KW_ASSIGN_OR_RETURN(notify::Webhook w, notify::MakeWebhook(wc));
    webhooks.push_back(std::move(w));
  }
  const bool notify_enabled = !webhooks.empty();
  rotation::EngineOptions engine_options;
  if (notify_enabled) {
    engine_options.on_failed = [&clock](store::Txn& txn, const rotation::Rotation& r) {
      return notify::Enqueue(txn, notify::RotationFailedEvent(r, clock.Now()), clock.Now());
    };
  }
  engine_options.max_active_per_issuer = config.rotation_max_active_per_issuer;
  engine_options.advance_threads = config.rotation_threads;
  engine_options.poll_interval = config.rotation_tick;
  rotation::RotationEngine rotation_engine(*store, clock, random, engine_options, failpoints);
  rotation_engine.RegisterIssuer("builtin", iam_issuer);
  rotation_engine.RegisterSecretTarget("builtin", secrets_target);
  rotation_engine.RegisterDelivery("document", document_delivery);
  rotation_engine.RegisterDelivery("agent-sync", agent_sync_delivery);
  rotation_engine.SetInstanceDirectory(&fleet);
  // External issuers (AWS-compatible IAM endpoints) from --integrations, registered
  // under their names so policies can name them. Credentials resolve on first use.
  // An entry's `credentials_secret` names one of keyward's own secrets, read through
  // `own_secrets` on every call so that a rotation of it takes effect at once.
  SecretServiceKeyReader own_secrets(secrets);
  std::unique_ptr<ExternalIntegrations> integrations;
  if (!config.integrations_file.empty()) {
    KW_ASSIGN_OR_RETURN(IntegrationsConfig declared,
                        LoadIntegrationsFile(config.integrations_file));
    KW_ASSIGN_OR_RETURN(integrations,
                        ExternalIntegrations::Build(declared, clock, random,
                                                    awsclient::ProcessEnvironment(), &own_secrets));
    integrations->RegisterWith(rotation_engine);
    spdlog::info("integrations: {} external issuer(s) from {}", integrations->issuer_count(),
                 config.integrations_file);
  }
  if (once != nullptr) {
    KW_ASSIGN_OR_RETURN(
        RotateOnceReport report,
        RotateUntilIdle(rotation_engine, clock, once->options,
                        [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }));
    PrintRotateOnceReport(report, out);
    once->exit_code = report.exit_code;
    // A timer run has no Notifier: deliver what it (or an earlier run) enqueued before
    // exiting. Undelivered events stay in the outbox; the rotations' exit code stands.
    if (notify_enabled) {
      notify::WebhookSender sender(*store, clock, random, std::move(webhooks));
      (void)DeliverNotifications(
          sender, clock, once->options,
          [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }, out);
    }
    return OkStatus();
  }

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
  // RotateSecret on a secret under a rotation policy starts its rotation; DescribeSecret
  // shows the policy's dates. Requests signed with an Inactive key feed the grace step.
  EngineSecretRotationLink secret_rotation(rotation_engine);
  dispatcher.AddJsonService(api::SecretsManagerJsonService(secrets, account, &secret_rotation));
  KeyAttemptObserver key_attempt_observer(key_attempts);
  dispatcher.AddObserver(&key_attempt_observer);
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
  // Owners, the directory, offboarding and findings (docs/audit.md).
  directory::DirectoryService directory(*store, clock);
  KW_ASSIGN_OR_RETURN(std::unique_ptr<directory::DirectorySource> directory_source,
                      MakeDirectorySource(config));
  audit::StsSessionRevoker session_revoker(sts);
  audit::Offboarder offboarder(*store, clock, users, session_revoker, directory, config.owner_tag);
  audit::DirectorySync directory_sync(directory, offboarder, directory_source.get(),
                                      config.directory_auto_offboard);
  audit::LiveAuditData audit_data(users, &fleet, directory);
  audit::AuditService audit_service(*store, clock, audit_data, MakeAuditPolicy(config));
  // Event findings read keyward's own event log (none when it is off).
  std::optional<audit::EventLogSource> audit_events;
  if (event_log) {
    audit_events.emplace(*event_log, &rotation_engine);
    audit_service.set_event_source(&*audit_events);
  }
  if (notify_enabled) {
    audit_service.set_new_finding_hook(
        [](store::Txn& txn, std::string_view id, const audit::Observation& o, TimePoint now) {
          return notify::Enqueue(txn, notify::FindingEvent(id, o, now), now);
        });
  }
  for (auto& op :
       api::AuditOperations({audit_service, offboarder, directory_sync, directory}, account)) {
    keyward_service.operations.push_back(std::move(op));
  }
  dispatcher.AddJsonService(std::move(keyward_service));
  std::unique_ptr<api::EventObserver> event_observer;
  if (event_recorder) {
    event_observer =
        std::make_unique<api::EventObserver>(*event_recorder, &metrics, account.region);
    dispatcher.AddObserver(event_observer.get());
    dispatcher.AddJsonService(api::CloudTrailJsonService(*event_log, event_recorder.get()));
  }
  api::AgentEndpoints agent_endpoints(fleet, clock, random);
  dispatcher.SetAgentHandler(&agent_endpoints);
  agent_endpoints.SetEventRecorder(event_recorder.get());
  api::ControlChannel control_channel(api::ControlChannelDeps{
      clock, [&dispatcher](const HttpRequest& r) { return dispatcher.Authenticate(r); }, fleet,
      commands, [](const std::string& line) { spdlog::warn("control channel: {}", line); },
      event_recorder.get()});
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
  Scheduler scheduler(commands, windows, fleet, rotation_engine, clock, config.rotation_tick);
  notify::WebhookSender webhook_sender(*store, clock, random, std::move(webhooks));
  std::optional<notify::Notifier> notifier;
  if (notify_enabled) notifier.emplace(webhook_sender, std::chrono::milliseconds(500));
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

int RunRotateOnce(const ServerConfig& config, const RotateOnceOptions& options, std::ostream& out) {
  // Never bootstrap a data directory from a timer: a typo in --data-dir would otherwise
  // create a new keyward with no policies and report success.
  if (!std::filesystem::exists(config.data_dir / "keyward.db")) {
    spdlog::error("keyward rotate: {} is not a keyward data directory", config.data_dir.string());
    return 1;
  }
  ServerConfig once_config = config;
  once_config.rotation_tick = std::chrono::milliseconds(0);  // poll on every Tick
  RotateOnceRun run{options};
  Status s = Serve(once_config, out, &run);
  if (!s) {
    spdlog::error("keyward rotate: {}", s.error().message);
    return 1;
  }
  return run.exit_code;
}

int RunServer(const ServerConfig& config, std::ostream& out) {
  Status s = Serve(config, out);
  if (!s) {
    spdlog::error("keyward server: {}", s.error().message);
    return 1;
  }
  return 0;
}

}  // namespace kw::server
