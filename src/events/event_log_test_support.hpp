#pragma once

// The fixture the event log's tests share: an EventLog over an in-memory store, signed
// with a key pair made for the test (public key kept for Verify).

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/secret_bytes.hpp"
#include "crypto/signature.hpp"
#include "events/event_log.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::events::test_support {

class SignedEventLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pair = crypto::GenerateEd25519();
    ASSERT_TRUE(pair.has_value());
    public_key_ = pair->public_key;
    auto log = EventLog::Open(store_, SecretBytes(std::string(pair->private_key_pem.Reveal())));
    ASSERT_TRUE(log.has_value());
    log_ = std::move(*log);
  }

  store::MemoryKvStore store_;
  std::string public_key_;
  std::unique_ptr<EventLog> log_;
};

}  // namespace kw::events::test_support
