// The web page at / (src/server/web/, embedded at build time): its files as compiled in, as the server serves them
// (headers, no key needed while the API needs one), and the page itself in a real headless Chromium driven by
// tests/server/web_ui.mjs (playwright-core) against the real `hearth serve` with stories260K. The browser tests
// are skipped without ../shared, the npm packages (make deps) or /usr/bin/chromium.
#include <httplib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <string>

#include "server/web_ui.h"
#include "../context/context_test_util.h"
#include "server_process.h"

namespace hearth::test {
namespace {

using server::web_assets;
using server::web_page;

const char* const kChromium = "/usr/bin/chromium";
const char* const kKey = "web-ui-test-key";

std::string asset_bytes(std::string_view name) {
  for (const auto& a : web_assets())
    if (a.name == name) return std::string(a.bytes);
  return {};
}

TEST(WebUi, EmbedsThePageWithoutOutsideUrlsOrInlineScript) {
  ASSERT_FALSE(asset_bytes("index.html").empty());
  ASSERT_FALSE(asset_bytes("app.js").empty());
  for (const auto& a : web_assets()) {
    const std::string bytes(a.bytes);
    // The embedded bytes are the file's, byte for byte.
    EXPECT_EQ(bytes.size(), std::filesystem::file_size(source_dir() + "/src/server/web/" + std::string(a.name))) << a.name;
    // Nothing is fetched from another origin (the CSP would block it anyway). An SVG's xmlns is a name that is
    // never fetched, so it is the one URL allowed.
    const std::regex url(R"(https?://[^\s"'<>)]*)", std::regex::icase);
    for (auto it = std::sregex_iterator(bytes.begin(), bytes.end(), url); it != std::sregex_iterator(); ++it)
      EXPECT_EQ(it->str(), "http://www.w3.org/2000/svg") << a.name << " references " << it->str();
  }
  // script-src 'self' runs no inline script: every <script> of the page names its file, which is served.
  const std::string index = asset_bytes("index.html");
  const std::regex script(R"(<script\b([^>]*)>)", std::regex::icase);
  int scripts = 0;
  for (auto it = std::sregex_iterator(index.begin(), index.end(), script); it != std::sregex_iterator(); ++it, ++scripts) {
    std::smatch src;
    const std::string attributes = (*it)[1].str();
    ASSERT_TRUE(std::regex_search(attributes, src, std::regex(R"(src="([^"]+)\")"))) << it->str();
    EXPECT_TRUE(web_page("/" + src[1].str()).has_value()) << src[1];
  }
  EXPECT_EQ(scripts, 1);
  EXPECT_FALSE(std::regex_search(index, std::regex(R"(\son[a-z]+\s*=)", std::regex::icase))) << "no inline event handlers";
  EXPECT_EQ(index.find(" style="), std::string::npos) << "no inline styles (style-src 'self')";

  EXPECT_EQ(web_page("/")->bytes, index);
  EXPECT_EQ(web_page("/")->content_type, "text/html; charset=utf-8");
  EXPECT_EQ(web_page("/app.js")->content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(web_page("/style.css")->content_type, "text/css; charset=utf-8");
  EXPECT_FALSE(web_page("/nope.js").has_value());
  EXPECT_FALSE(web_page("").has_value());
  EXPECT_FALSE(web_page("/../CMakeLists.txt").has_value());
}

TEST(WebUi, ServedWithoutAKeyWhileTheApiNeedsOne) {
  HEARTH_REQUIRE_SHARED();
  ServerProcess s({"-m", shared_dir() + "/models/stories260K.gguf", "--api-key", kKey, "--quiet"});
  ASSERT_TRUE(s.ready());
  httplib::Client cli(s.host(), s.port());
  for (const auto& a : web_assets()) {
    const std::string path = "/" + std::string(a.name);
    for (const std::string& p : a.name == "index.html" ? std::vector<std::string>{"/", path} : std::vector<std::string>{path}) {
      const auto res = cli.Get(p);
      ASSERT_TRUE(res) << p;
      EXPECT_EQ(res->status, 200) << p;
      EXPECT_EQ(res->body, a.bytes) << p;
      EXPECT_EQ(res->get_header_value("Content-Type"), web_page(path)->content_type) << p;
      EXPECT_EQ(res->get_header_value("Content-Security-Policy"), server::kWebContentSecurityPolicy) << p;
      EXPECT_EQ(res->get_header_value("Cache-Control"), "no-cache") << p;
      EXPECT_EQ(res->get_header_value("X-Content-Type-Options"), "nosniff") << p;
    }
  }
  const auto page = cli.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page->get_header_value("Content-Security-Policy").find("script-src 'self'"), std::string::npos);
  EXPECT_NE(page->body.find("<script type=\"module\" src=\"app.js\">"), std::string::npos);

  const auto models = cli.Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 401) << models->body;
  const auto keyed = cli.Get("/v1/models", {{"Authorization", std::string("Bearer ") + kKey}});
  ASSERT_TRUE(keyed);
  EXPECT_EQ(keyed->status, 200) << keyed->body;
  // A file the page does not have is the API's 404, not a page.
  const auto missing = cli.Get("/missing.js");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(s.stop(), 0);
}

// Runs tests/server/web_ui.mjs against a server started with `server_args` (besides the model); the script's
// extra arguments follow. Its output is shown when it fails.
void run_browser_script(const std::vector<std::string>& server_args, const std::string& script_args) {
  if (!std::filesystem::exists(node_dir() + "/node_modules/playwright-core"))
    GTEST_SKIP() << "the playwright-core npm package is absent (make deps)";
  if (!std::filesystem::exists(kChromium)) GTEST_SKIP() << kChromium << " is absent (apt-get install chromium)";
  // A long context makes an answer with a large max_tokens last minutes (stories260K writes a few hundred tokens a
  // second that deep), so Stop always finds it running.
  std::vector<std::string> args = {"-m", shared_dir() + "/models/stories260K.gguf", "--ctx", "32768", "--parallel", "2",
                                   "--quiet"};
  args.insert(args.end(), server_args.begin(), server_args.end());
  ServerProcess s(args);
  ASSERT_TRUE(s.ready());
  std::string extra = script_args;
  if (const char* shot = std::getenv("HEARTH_WEB_UI_SCREENSHOT")) extra += std::string(" --screenshot '") + shot + "'";
  const std::string cmd = "timeout 300 node '" + source_dir() + "/tests/server/web_ui.mjs' '" + s.base_url() + "/' '" +
                          node_dir() + "' '" + kChromium + "' stories260K " + extra + " 2>&1";
  const ShellResult run = run_shell(cmd);
  const std::string& out = run.out;
  EXPECT_EQ(run.code, 0) << out;
  EXPECT_NE(out.find("web page checks passed"), std::string::npos) << out;
  EXPECT_EQ(s.stop(), 0);
}

TEST(WebUi, ChatsStreamsAndStopsInChromium) {
  HEARTH_REQUIRE_SHARED();
  HEARTH_REQUIRE_NODE();
  run_browser_script({}, "");
}

TEST(WebUi, AsksForTheApiKeyInChromium) {
  HEARTH_REQUIRE_SHARED();
  HEARTH_REQUIRE_NODE();
  run_browser_script({"--api-key", kKey}, std::string("--api-key ") + kKey);
}

// The page with an index: the status panel shows it, the request carries it, and the answer lists the excerpt it
// was given as a numbered source with its path and lines.
TEST(WebUi, ShowsTheCitedSourcesInChromium) {
  HEARTH_REQUIRE_SHARED();
  HEARTH_REQUIRE_NODE();
  HEARTH_REQUIRE_USE_LITE();
  TempDir corpus, data;
  write_file(corpus / "walrus.md", "# Walrus\n\nThe walrus named Wendell sleeps on the ice floe near Svalbard.\n");
  write_file(corpus / "fruit.txt", "Bananas ripen faster next to apples.\n");
  const std::string add = "'" + hearth_binary() + "' index add '" + corpus.path() + "' --index notes --data-dir '" +
                          data.path() + "' 2>/dev/null";
  ASSERT_EQ(std::system(add.c_str()), 0);
  run_browser_script({"--context", "notes", "--data-dir", data.path()}, "--expect-source walrus.md");
}

}  // namespace
}  // namespace hearth::test
