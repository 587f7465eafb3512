#pragma once

/// Where the store tests keep their stores: each backend by name, and an
/// empty store of one backend (`store_place`): an SQLite file in a directory
/// of its own, or a database of its own on the module's one PostgreSQL
/// server (postgres_server.hpp), started by the first case that needs it. A
/// PostgreSQL case fails, never skips, when the server cannot be started.

#include <boost/mpl/list.hpp>
#include <boost/test/unit_test.hpp>

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "store/sql_db.hpp"
#include "tests/integration/postgres_server.hpp"
#include "tutti/store.hpp"

// Named outside the anonymous namespace so that a case's name reads
// `written_run_is_found_with_every_field<backend::postgresql>`.
namespace backend {
struct sqlite {
  static constexpr const char* name = "sqlite";
};
struct postgresql {
  static constexpr const char* name = "postgresql";
};
} // namespace backend

namespace tutti::testing {

using backends = boost::mpl::list<backend::sqlite, backend::postgresql>;

/// The module's one server, started by the first PostgreSQL case; a failure
/// to start is kept and thrown again in every PostgreSQL case.
struct shared_server {
  std::unique_ptr<postgres_server> server;
  std::string failure;
  bool tried = false;
};

inline shared_server& shared() {
  static shared_server s;
  return s;
}

inline postgres_server& pg_server() {
  auto& s = shared();
  if (!s.tried) {
    s.tried = true;
    try {
      s.server = std::make_unique<postgres_server>();
    } catch (const std::exception& e) {
      s.failure = e.what();
    }
  }
  if (!s.server)
    throw std::runtime_error("no PostgreSQL server for the test: " + s.failure);
  return *s.server;
}

/// Stops and removes the server when the module ends, not at exit().
struct server_teardown {
  ~server_teardown() { shared().server.reset(); }
};
BOOST_TEST_GLOBAL_FIXTURE(server_teardown);

/// An empty store of one backend: an SQLite file in a directory of its own,
/// or a database of its own on the shared server.
class store_place {
public:
  explicit store_place(const std::string& backend) {
    if (backend == "sqlite") {
      char pattern[] = "/tmp/tutti-store-test-XXXXXX";
      if (mkdtemp(pattern) == nullptr)
        throw std::runtime_error("mkdtemp failed");
      dir_ = pattern;
      url_ = "sqlite:" + (dir_ / "runs.db").string();
    } else {
      static int count = 0;
      auto name = "store_" + std::to_string(++count);
      auto& server = pg_server();
      // CREATE DATABASE cannot run in a transaction: one statement alone.
      tutti::store_detail::open_postgres(server.url())
          ->run("CREATE DATABASE " + name);
      url_ = server.url(name);
    }
  }

  ~store_place() {
    std::error_code ec;
    if (!dir_.empty())
      std::filesystem::remove_all(dir_, ec);
  }

  store_place(const store_place&) = delete;
  store_place& operator=(const store_place&) = delete;

  const std::string& url() const { return url_; }

  std::unique_ptr<tutti::run_store> open(bool migrate = true) const {
    return tutti::open_store(tutti::store_config{url_}, migrate);
  }

  /// The database itself, for what the store's interface cannot do.
  std::unique_ptr<tutti::store_detail::sql_db> raw() const {
    if (dir_.empty())
      return tutti::store_detail::open_postgres(url_);
    return tutti::store_detail::open_sqlite((dir_ / "runs.db").string());
  }

private:
  std::filesystem::path dir_;
  std::string url_;
};

} // namespace tutti::testing
