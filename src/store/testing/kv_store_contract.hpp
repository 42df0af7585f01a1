#pragma once

// The behaviour every KvStore backend must show (after Vault's sdk/physical/testing.go):
// one GoogleTest value-parameterized suite, instantiated once per backend with a factory:
//
//   namespace kw::store {
//   Result<std::unique_ptr<KvStore>> MakeMemoryStore(const std::filesystem::path&) {
//     return std::unique_ptr<KvStore>(std::make_unique<MemoryKvStore>());
//   }
//   INSTANTIATE_TEST_SUITE_P(Memory, KvStoreContract, ::testing::Values(&MakeMemoryStore));
//   }  // namespace kw::store
//
// Link the test binary against kw_store_testing. Instantiate from exactly one .cpp per
// binary per backend.

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

#include "common/result.hpp"
#include "store/kv_store.hpp"

namespace kw::store {

// Returns a new, empty store. `scratch_dir` is an empty directory the suite creates for
// each test and removes after it; file-based backends keep their files there.
using KvStoreFactory =
    Result<std::unique_ptr<KvStore>> (*)(const std::filesystem::path& scratch_dir);

class KvStoreContract : public ::testing::TestWithParam<KvStoreFactory> {
 protected:
  void SetUp() override;
  void TearDown() override;

  KvStore& store() { return *store_; }

  std::filesystem::path scratch_dir_;
  std::unique_ptr<KvStore> store_;
};

// Defined next to the tests. The static library holding the tests is linked into a test
// binary only if something references it; this reference from every including file
// makes a plain INSTANTIATE_TEST_SUITE_P enough.
int KvStoreContractLinkAnchor();
[[maybe_unused]] inline const int kKvStoreContractLinked = KvStoreContractLinkAnchor();

}  // namespace kw::store
