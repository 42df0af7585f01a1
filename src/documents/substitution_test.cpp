#include "documents/substitution.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace kw::documents {
namespace {

// A value that tries every way out of its quotes.
const std::string kHostile =
    "a'b\"c$(echo INJECTED)`echo INJECTED`\\\\n;echo INJECTED\n'; echo INJECTED; '$HOME *";

CommandDocument Doc(const std::vector<std::string>& run, const std::string& params_json) {
  std::string lines;
  for (std::size_t i = 0; i < run.size(); ++i) {
    lines += (i ? "," : "") + nlohmann::json(run[i]).dump();
  }
  std::string content =
      R"({"schemaVersion":"2.2","parameters":)" + params_json +
      R"(,"mainSteps":[{"action":"aws:runShellScript","name":"s","inputs":{"runCommand":[)" +
      lines + "]}}]}";
  auto doc = ParseCommandDocument(content, DocumentFormat::kJson);
  EXPECT_TRUE(doc.has_value()) << (doc ? "" : doc.error().message);
  return doc ? *doc : CommandDocument{};
}

// Runs the rendered step with /bin/sh, as the agent does (lines joined by newlines).
std::string RunShell(const std::vector<std::string>& lines) {
  char path[] = "/tmp/kw_subst_testXXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  close(fd);
  {
    std::ofstream out(path);
    for (const auto& l : lines) out << l << "\n";
  }
  std::string cmd = std::string("/bin/sh ") + path + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string output;
  char buf[512];
  while (p && fgets(buf, sizeof buf, p)) output += buf;
  if (p) pclose(p);
  unlink(path);
  return output;
}

// True if the shell printed `line` on a line of its own (what a payload's echo does).
bool HasLine(const std::string& out, const std::string& line) {
  return ("\n" + out).find("\n" + line + "\n") != std::string::npos;
}

std::string RenderReason(const CommandDocument& doc, const ParameterValues& in) {
  auto r = SubstituteParameters(doc, in, "Linux");
  return r ? "OK" : r.error().reason;
}

class InjectionTest : public ::testing::TestWithParam<std::string> {};

// Each template prints the value between markers; the value must come out verbatim
// and nothing in it may run.
TEST_P(InjectionTest, HostileValueStaysData) {
  CommandDocument doc = Doc({GetParam()}, R"({"v":{"type":"String"}})");
  auto steps = SubstituteParameters(doc, {{"v", {kHostile}}}, "Linux");
  ASSERT_TRUE(steps.has_value()) << steps.error().message;
  std::string out = RunShell(steps->at(0).run_command);
  EXPECT_FALSE(HasLine(out, "INJECTED")) << out;
  EXPECT_NE(out.find("@" + kHostile + "@"), std::string::npos) << out;
}

INSTANTIATE_TEST_SUITE_P(Contexts, InjectionTest,
                         ::testing::Values("printf '%s\\n' @{{ v }}@",
                                           "printf '%s\\n' \"@{{ v }}@\"",
                                           "printf '%s\\n' '@{{v}}@'",
                                           "printf '%s\\n' @{{ v }}@  # trailing",
                                           "x=$(printf '%s' {{ v }}); printf '%s\\n' \"@$x@\"",
                                           "printf '%s\\n' \"@$(printf '%s' {{ v }})@\"",
                                           "printf '%s\\n' \"@\"{{ v }}\"@\""));

TEST(SubstitutionTest, CommentCannotBeLeftThroughANewline) {
  CommandDocument doc = Doc({"true # note: {{ v }}", "echo done"}, R"({"v":{"type":"String"}})");
  auto steps = SubstituteParameters(doc, {{"v", {"x\necho INJECTED"}}}, "Linux");
  ASSERT_TRUE(steps.has_value());
  EXPECT_EQ(RunShell(steps->at(0).run_command), "done\n");
  EXPECT_EQ(steps->at(0).run_command[0], "true # note: x echo INJECTED");
}

TEST(SubstitutionTest, StringListEmbeddedIsOneQuotedWordPerItem) {
  CommandDocument doc = Doc({"printf '<%s>\\n' {{ files }}"}, R"({"files":{"type":"StringList"}})");
  auto steps = SubstituteParameters(doc, {{"files", {"a b", "$(echo INJECTED)", ""}}}, "Linux");
  ASSERT_TRUE(steps.has_value());
  EXPECT_EQ(RunShell(steps->at(0).run_command), "<a b>\n<$(echo INJECTED)>\n<>\n");
}

TEST(SubstitutionTest, WholeLinePlaceholderIsShellCode) {
  CommandDocument doc =
      Doc({"{{ commands }}", "echo last"}, R"({"commands":{"type":"StringList"}})");
  auto steps = SubstituteParameters(doc, {{"commands", {"echo one", "x=2; echo $x"}}}, "Linux");
  ASSERT_TRUE(steps.has_value());
  EXPECT_EQ(steps->at(0).run_command,
            (std::vector<std::string>{"echo one", "x=2; echo $x", "echo last"}));
  EXPECT_EQ(RunShell(steps->at(0).run_command), "one\n2\nlast\n");
}

TEST(SubstitutionTest, WholeLineInsideAHereDocumentIsNotCode) {
  auto parsed = ParseCommandDocument(
      R"({"schemaVersion":"2.2","parameters":{"msg":{"type":"String"}},"mainSteps":[{"action":"aws:runShellScript","name":"s","inputs":{"runCommand":["cat <<EOF","{{ msg }}","EOF"]}}]})",
      DocumentFormat::kJson);
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().reason, "InvalidDocumentContent");
  EXPECT_NE(parsed.error().message.find("here-document"), std::string::npos);
}

TEST(SubstitutionTest, UnquotablePlacesAreRefused) {
  for (const char* line :
       {"echo `echo {{ v }}`", "echo ${X:-{{ v }}}", "echo \\{{ v }}", "cat <<{{ v }}"}) {
    auto doc = ParseCommandDocument(
        std::string(
            R"({"schemaVersion":"2.2","parameters":{"v":{"type":"String"}},"mainSteps":[{"action":"aws:runShellScript","name":"s","inputs":{"runCommand":[)") +
            nlohmann::json(line).dump() + "]}}]}",
        DocumentFormat::kJson);
    EXPECT_FALSE(doc.has_value()) << line;
  }
  // After the here-document ends, placeholders are fine again.
  CommandDocument doc =
      Doc({"cat <<'EOF'", "text", "EOF", "printf '%s\\n' {{ v }}"}, R"({"v":{"type":"String"}})");
  auto steps = SubstituteParameters(doc, {{"v", {"$(echo INJECTED)"}}}, "Linux");
  ASSERT_TRUE(steps.has_value());
  EXPECT_EQ(RunShell(steps->at(0).run_command), "text\n$(echo INJECTED)\n");
}

TEST(SubstitutionTest, CallerCodeThatOpensAQuoteCannotExposeLaterParameters) {
  // The caller's shell code leaves a single quote open; the next line's value is then
  // escaped for single quotes, so it still cannot run.
  CommandDocument doc = Doc({"{{ commands }}", "printf '%s\\n' {{ v }}'"},
                            R"({"commands":{"type":"StringList"},"v":{"type":"String"}})");
  auto steps = SubstituteParameters(
      doc, {{"commands", {"printf '%s\\n' 'open"}}, {"v", {"'; echo INJECTED; '"}}}, "Linux");
  ASSERT_TRUE(steps.has_value()) << steps.error().message;
  EXPECT_FALSE(HasLine(RunShell(steps->at(0).run_command), "INJECTED"));
}

TEST(SubstitutionTest, IntegerAndBooleanAreStrict) {
  CommandDocument doc = Doc({"sleep {{ n }}; test {{ b }} = true"},
                            R"({"n":{"type":"Integer"},"b":{"type":"Boolean","default":true}})");
  EXPECT_EQ(RenderReason(doc, {{"n", {"1; echo x"}}}), "InvalidParameters");
  EXPECT_EQ(RenderReason(doc, {{"n", {"1.5"}}}), "InvalidParameters");
  EXPECT_EQ(RenderReason(doc, {{"n", {"2"}}, {"b", {"yes"}}}), "InvalidParameters");
  auto steps = SubstituteParameters(doc, {{"n", {"-0"}}}, "Linux");
  ASSERT_TRUE(steps.has_value());
  EXPECT_EQ(steps->at(0).run_command[0], "sleep -0; test true = true");
}

TEST(SubstitutionTest, ValidatesValues) {
  CommandDocument doc = Doc({"echo {{ s }} {{ l }}"},
                            R"({"s":{"type":"String","allowedValues":["a","b"]},
                                "l":{"type":"StringList","allowedPattern":"^[a-z]+$","maxItems":2,"default":["x"]}})");
  EXPECT_EQ(RenderReason(doc, {{"s", {"a"}}}), "OK");
  EXPECT_EQ(RenderReason(doc, {}), "InvalidParameters");  // s is required
  EXPECT_EQ(RenderReason(doc, {{"s", {"c"}}}), "InvalidParameters");
  EXPECT_EQ(RenderReason(doc, {{"s", {"a", "b"}}}), "InvalidParameters");
  EXPECT_EQ(RenderReason(doc, {{"s", {"a"}}, {"zz", {"1"}}}), "InvalidParameters");
  EXPECT_EQ(RenderReason(doc, {{"s", {"a"}}, {"l", {"ok", "Bad"}}}), "InvalidParameters");
  EXPECT_EQ(RenderReason(doc, {{"s", {"a"}}, {"l", {"a", "b", "c"}}}), "InvalidParameters");
  EXPECT_EQ(RenderReason(doc, {{"s", {"a"}}, {"l", {std::string("a\0b", 3)}}}),
            "InvalidParameters");
  EXPECT_EQ(RenderReason(doc, {{"s", {"a"}}, {"l", {std::string(2000, 'a')}}}),
            "InvalidParameters");
  auto steps = SubstituteParameters(doc, {{"s", {"b"}}}, "Linux");
  ASSERT_TRUE(steps.has_value());
  EXPECT_EQ(steps->at(0).run_command[0], "echo 'b' 'x'");
}

TEST(SubstitutionTest, TimeoutAndWorkingDirectory) {
  auto doc = ParseCommandDocument(
      R"({"schemaVersion":"2.2","parameters":{"t":{"type":"String","default":"30"},"d":{"type":"String","default":"/srv"}},
          "mainSteps":[{"action":"aws:runShellScript","name":"s","inputs":{"runCommand":"true",
          "timeoutSeconds":"{{ t }}","workingDirectory":"{{d}}/app"}}]})",
      DocumentFormat::kJson);
  ASSERT_TRUE(doc.has_value()) << doc.error().message;
  auto steps = SubstituteParameters(*doc, {}, "Linux");
  ASSERT_TRUE(steps.has_value());
  EXPECT_EQ(steps->at(0).timeout_seconds, 30);
  EXPECT_EQ(steps->at(0).working_directory, "/srv/app");
  EXPECT_EQ(RenderReason(*doc, {{"t", {"0"}}}), "InvalidParameters");
  EXPECT_EQ(RenderReason(*doc, {{"t", {"172801"}}}), "InvalidParameters");
  EXPECT_EQ(RenderReason(*doc, {{"t", {"10 "}}}), "InvalidParameters");
  EXPECT_EQ(RenderReason(*doc, {{"d", {"/a\n/b"}}}), "InvalidParameters");
}

TEST(SubstitutionTest, StepsForOtherPlatformsAreLeftOut) {
  auto doc = ParseCommandDocument(
      R"({"schemaVersion":"2.2","mainSteps":[
        {"action":"aws:runShellScript","name":"linux","precondition":{"StringEquals":["platformType","Linux"]},"inputs":{"runCommand":"a"}},
        {"action":"aws:runShellScript","name":"mac","precondition":{"StringEquals":["platformType","MacOS"]},"inputs":{"runCommand":"b"}},
        {"action":"aws:runShellScript","name":"any","inputs":{"runCommand":"c"}}]})",
      DocumentFormat::kJson);
  ASSERT_TRUE(doc.has_value());
  auto steps = SubstituteParameters(*doc, {}, "Linux");
  ASSERT_TRUE(steps.has_value());
  ASSERT_EQ(steps->size(), 2u);
  EXPECT_EQ((*steps)[0].name, "linux");
  EXPECT_EQ((*steps)[1].name, "any");
  EXPECT_EQ((*steps)[1].timeout_seconds, kDefaultTimeoutSeconds);
  EXPECT_TRUE(SubstituteParameters(*doc, {}, "Windows")->empty());
}

TEST(SubstitutionTest, ShellQuote) {
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(ShellQuote(""), "''");
}

}  // namespace
}  // namespace kw::documents
