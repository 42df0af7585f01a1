#include "store/memory/memory_kv_store.hpp"

#include <gtest/gtest.h>

#include "store/testing/kv_store_contract.hpp"

namespace kw::store {
namespace {

Result<std::unique_ptr<KvStore>> MakeMemoryStore(const std::filesystem::path&) {
  return std::unique_ptr<KvStore>(std::make_unique<MemoryKvStore>());
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Memory, KvStoreContract, ::testing::Values(&MakeMemoryStore));

}  // namespace kw::store
