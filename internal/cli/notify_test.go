package cli

import (
	"fmt"
	"strings"
	"testing"

	"github.com/reachmon/reachmon/internal/notify/slack/fakeslack"
)

func TestNotifyTest(t *testing.T) {
	const token = "xoxb-cli-test-secret"
	fake := fakeslack.New(token, map[string]string{"#test": "C0TEST0001"})
	defer fake.Close()
	dir := t.TempDir()
	write := func(name, text string) string { return writeFile(t, dir, name, text) }
	t.Setenv("REACHMON_TEST_SLACK_TOKEN", token)
	good := write("good.toml", fmt.Sprintf("[slack]\ntoken_env = \"REACHMON_TEST_SLACK_TOKEN\"\napi_url = %q\nchannel = \"C0TEST0001\"\n", fake.APIURL()))
	code, out, errOut := runMain("notify", "test", "--config", good)
	if code != ExitOK || len(fake.CallsOf("chat.postMessage")) != 1 {
		t.Fatalf("exit %d, %d posts\n%s\n%s", code, len(fake.CallsOf("chat.postMessage")), out, errOut)
	}
	if !strings.Contains(out, "chat.postMessage") || strings.Contains(out+errOut, token) {
		t.Errorf("report does not show the post, or leaks the token:\n%s%s", out, errOut)
	}

	fake.Fail("auth.test", fakeslack.Fault{Error: "invalid_auth"})
	code, out, errOut = runMain("notify", "test", "--config", good)
	if code != ExitProblem || !strings.Contains(out+errOut, "invalid_auth") {
		t.Errorf("invalid_auth: exit %d\n%s\n%s", code, out, errOut)
	}

	none := write("none.toml", "vantage = \"x\"\n")
	if code, _, errOut := runMain("notify", "test", "--config", none); code != ExitUsage || !strings.Contains(errOut, "configures no Slack paging") {
		t.Errorf("no [slack]: exit %d, %s", code, errOut)
	}
	if code, _, _ := runMain("notify", "send", "--config", good); code != ExitUsage {
		t.Errorf("unknown subcommand: exit %d", code)
	}
}
