// The configuration file's TOML → command-line arguments and [[model]] tables (server/config_file.h).
#include <gtest/gtest.h>

#include "core/error.h"
#include "server/config_file.h"
#include "test_util.h"

namespace hearth::test {
namespace {

using server::parse_config;

bool is_flag(const std::string& key) {
  for (const char* k : {"port", "host", "model", "api-key", "stack", "idle-ttl", "memory-budget", "draft"})
    if (key == k) return true;
  return false;
}

TEST(ConfigFile, KeysBecomeArguments) {
  const server::ConfigFile c = parse_config(R"(
port = 8081
host = "0.0.0.0"
api-key = "sekrit"
idle-ttl = 300
memory-budget = "4G"
model = ["a.gguf", "chat=b.gguf"]

[stack]
chat = "qwen"
embed = "bge"
)", "test.toml", is_flag);
  // Keys sorted; an array's values (and a table's entries) in order.
  EXPECT_EQ(c.args, (std::vector<std::string>{"--api-key=sekrit", "--host=0.0.0.0", "--idle-ttl=300",
                                              "--memory-budget=4G", "--model=a.gguf", "--model=chat=b.gguf",
                                              "--port=8081", "--stack=chat=qwen", "--stack=embed=bge"}));
  EXPECT_TRUE(c.models.empty());
}

TEST(ConfigFile, ModelTables) {
  const server::ConfigFile c = parse_config(R"(
[[model]]
path = "/models/qwen2.5-0.5b-instruct-q8_0.gguf"
aliases = ["qwen", "small"]
ttl = 600
draft = "tiny"
parallel = 8
context = 2048

[[model]]
id = "bge"
path = "/models/bge-small"
aliases = "embedder"
preload = false
)", "test.toml", is_flag);
  ASSERT_EQ(c.models.size(), 2u);
  EXPECT_EQ(c.models[0].id, "qwen2.5-0.5b-instruct-q8_0");  // the file name without its extension
  EXPECT_EQ(c.models[0].aliases, (std::vector<std::string>{"qwen", "small"}));
  EXPECT_EQ(c.models[0].ttl_seconds, 600);
  EXPECT_EQ(c.models[0].draft, "tiny");
  EXPECT_EQ(c.models[0].parallel, 8);
  EXPECT_EQ(c.models[0].context, 2048);
  EXPECT_FALSE(c.models[1].parallel.has_value());
  EXPECT_TRUE(c.models[0].preload);
  EXPECT_EQ(c.models[1].id, "bge");
  EXPECT_EQ(c.models[1].aliases, std::vector<std::string>{"embedder"});
  EXPECT_FALSE(c.models[1].ttl_seconds.has_value());
  EXPECT_FALSE(c.models[1].preload);
}

TEST(ConfigFile, ErrorsNameTheFileAndLine) {
  auto error_of = [](const std::string& text) {
    try {
      parse_config(text, "bad.toml", is_flag);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of("port = 8080\nprot = 1\n").find("bad.toml:2: unknown key 'prot'"), std::string::npos);
  EXPECT_NE(error_of("port = [\n").find("bad.toml:"), std::string::npos);
  EXPECT_NE(error_of("[[model]]\npath = \"m.gguf\"\nparallel = 0\n").find("'parallel' must be a whole number from 1"),
            std::string::npos);
  EXPECT_NE(error_of("config = \"other.toml\"\n").find("cannot name another"), std::string::npos);
  EXPECT_NE(error_of("[[model]]\nid = \"x\"\n").find("needs a path"), std::string::npos);
  EXPECT_NE(error_of("[[model]]\npath = \"a.gguf\"\nttl = \"1h\"\n").find("'ttl'"), std::string::npos);
  EXPECT_NE(error_of("[[model]]\npath = \"a.gguf\"\ncolour = 1\n").find("unknown key 'colour'"), std::string::npos);
  EXPECT_NE(error_of("port = { a = [1] }\n").find("'port'"), std::string::npos);
  EXPECT_THROW(server::read_config_file("/nonexistent/hearth.toml", is_flag), Error);
}

}  // namespace
}  // namespace hearth::test
