package slack

import (
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/notify"
)

// Block Kit limits that matter here.
const (
	maxHeader       = 150
	maxSectionText  = 3000
	maxFallback     = 400
	maxEvidence     = 10
	maxAffected     = 12
	timeLayoutUTC   = "2006-01-02 15:04:05 UTC"
	clockLayoutUTC  = "15:04:05 UTC"
	metaEventType   = "reachmon_notification"
	metaKeyPayload  = "key"
	redactedMarker  = "[REDACTED]"
	testMessageText = "reachmon test message"
)

// message is a rendered Slack message: blocks and the plain-text
// fallback used in notifications and by clients without Block Kit.
type message struct {
	text   string
	blocks []slack.Block
}

type renderer struct {
	cfg     config.SlackConfig
	vantage string
}

func severityEmoji(s model.Severity) string {
	switch s {
	case model.SeverityCritical:
		return ":red_circle:"
	case model.SeverityWarning:
		return ":large_orange_circle:"
	}
	return ":large_blue_circle:"
}

// incident renders the full incident: the page (open), the edited parent
// (resolve) and every webhook message. status, when set, is a first line
// saying what this message is about ("Update: severity warning ->
// critical").
func (r renderer) incident(inc model.Incident, status string) message {
	sev := strings.ToUpper(string(inc.Severity))
	title := fmt.Sprintf("%s %s · %s", severityEmoji(inc.Severity), sev, inc.Headline())
	fallback := fmt.Sprintf("[%s] %s", sev, inc.Headline())
	if !inc.IsOpen() {
		title = fmt.Sprintf(":white_check_mark: RESOLVED · %s · %s", sev, inc.Headline())
		fallback = fmt.Sprintf("[RESOLVED] [%s] %s", sev, inc.Headline())
		if d := duration(inc); d != "" {
			fallback += " after " + d
		}
		if inc.Recovery != "" {
			fallback += " (" + inc.Recovery + ")"
		}
	}
	if status != "" {
		fallback = status + ": " + fallback
	}
	if inc.RootCause != "" {
		fallback += ": " + inc.RootCause
	}
	var blocks []slack.Block
	blocks = append(blocks, slack.NewHeaderBlock(plain(model.Truncate(title, maxHeader))))
	if status != "" {
		blocks = append(blocks, section("*"+escape(status)+"*"))
	}
	if inc.RootCause != "" {
		blocks = append(blocks, section(escape(inc.RootCause)))
	}
	if r := recoveryText(inc); r != "" {
		blocks = append(blocks, section(r))
	}
	fields := []*slack.TextBlockObject{
		mrkdwn("*Kind*\n" + escape(inc.Kind.Title())),
		mrkdwn("*Severity*\n" + escape(string(inc.Severity))),
		mrkdwn("*Opened*\n" + utc(inc.Opened)),
	}
	if !inc.Confirmed.IsZero() && !inc.Confirmed.Equal(inc.Opened) {
		fields = append(fields, mrkdwn("*Confirmed*\n"+utc(inc.Confirmed)))
	}
	if !inc.IsOpen() && !inc.Resolved.IsZero() {
		fields = append(fields, mrkdwn("*Resolved*\n"+utc(inc.Resolved)))
		if d := duration(inc); d != "" {
			fields = append(fields, mrkdwn("*Duration*\n"+d))
		}
	}
	if inc.IsOpen() && !inc.ImpactAt.IsZero() {
		fields = append(fields, mrkdwn("*Impact expected*\n"+utc(inc.ImpactAt)))
	}
	blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil))
	if len(inc.Affected) > 0 {
		blocks = append(blocks, section("*Affected:* "+escape(list(inc.Affected, maxAffected))))
	}
	if ev := evidence(inc.Evidence, "Evidence"); ev != "" {
		blocks = append(blocks, section(ev))
	}
	blocks = append(blocks, r.context(inc))
	return message{text: fallbackText(fallback), blocks: blocks}
}

// threadReply renders an update, reminder or resolution in the thread.
func (r renderer) threadReply(d notify.Delivery) message {
	inc := d.Incident
	var head, fallback string
	switch d.Kind {
	case notify.KindResolve:
		head = ":white_check_mark: *Resolved*"
		if !inc.Resolved.IsZero() {
			head += " at " + utc(inc.Resolved)
		}
		if dur := duration(inc); dur != "" {
			head += " after " + dur
		}
		fallback = "Resolved: " + inc.Headline()
		if dur := duration(inc); dur != "" {
			fallback += " after " + dur
		}
		if inc.Recovery != "" {
			fallback += " (" + inc.Recovery + ")"
		}
	case notify.KindReminder:
		head = fmt.Sprintf(":rotating_light: *Still open* after %s (since %s)", fmtDuration(d.Now.Sub(inc.Opened)), utc(inc.Opened))
		fallback = "Still open: " + inc.Headline()
	default:
		head = fmt.Sprintf("%s *Update:* %s", severityEmoji(inc.Severity), escape(d.Reason))
		fallback = "Update: " + inc.Headline() + ": " + d.Reason
	}
	blocks := []slack.Block{section(head)}
	switch {
	case d.Kind == notify.KindResolve && inc.RootCause != "":
		// The whole story: what happened (the diagnosis of the page),
		// how long (the head), how it recovered.
		blocks = append(blocks, section("*What happened:* "+escape(inc.RootCause)))
	case inc.RootCause != "":
		blocks = append(blocks, section(escape(inc.RootCause)))
	}
	if r := recoveryText(inc); r != "" {
		blocks = append(blocks, section(r))
	}
	if ev := evidence(d.NewEvidence, "New evidence"); ev != "" {
		blocks = append(blocks, section(ev))
	}
	blocks = append(blocks, r.context(inc))
	return message{text: fallbackText(fallback), blocks: blocks}
}

// webhook renders one self-contained message per transition.
func (r renderer) webhook(d notify.Delivery) message {
	switch d.Kind {
	case notify.KindUpdate:
		return r.incident(d.Incident, "Update: "+d.Reason)
	case notify.KindReminder:
		return r.incident(d.Incident, fmt.Sprintf("Still open after %s", fmtDuration(d.Now.Sub(d.Incident.Opened))))
	}
	return r.incident(d.Incident, "")
}

// recoveryText is the incident's recovery line as a mrkdwn paragraph.
func recoveryText(inc model.Incident) string {
	switch {
	case inc.Recovery == "":
		return ""
	case inc.IsOpen():
		return "*Recovering:* " + escape(inc.Recovery)
	}
	return "*How it recovered:* " + escape(inc.Recovery)
}

func (r renderer) test(now time.Time) message {
	text := fmt.Sprintf("%s from vantage %s at %s: if you can read this, reachmon can page this channel.", testMessageText, r.vantage, utc(now))
	return message{text: fallbackText(text), blocks: []slack.Block{
		slack.NewHeaderBlock(plain(":white_check_mark: reachmon test message")),
		section(escape(text)),
	}}
}

func (r renderer) context(inc model.Incident) slack.Block {
	var parts []string
	if u := r.cfg.Link(r.cfg.GrafanaURL, inc); u != "" {
		parts = append(parts, "<"+u+"|Grafana dashboard>")
	}
	if u := r.cfg.Link(r.cfg.RunbookURL, inc); u != "" {
		parts = append(parts, "<"+u+"|Runbook>")
	}
	id := "incident `" + escape(inc.ID) + "`"
	if r.vantage != "" {
		id += " · vantage " + escape(r.vantage)
	}
	parts = append(parts, id)
	return slack.NewContextBlock("", mrkdwn(strings.Join(parts, " · ")))
}

func evidence(items []model.EvidenceItem, title string) string {
	if len(items) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("*" + title + "*")
	if len(items) > maxEvidence {
		fmt.Fprintf(&b, " (latest %d of %d)", maxEvidence, len(items))
		items = items[len(items)-maxEvidence:]
	}
	for _, e := range items {
		b.WriteString("\n• ")
		b.WriteString(e.Time.UTC().Format("15:04:05"))
		b.WriteString(" ")
		b.WriteString(escape(e.Text))
	}
	return model.Truncate(b.String(), maxSectionText)
}

func duration(inc model.Incident) string {
	if inc.Resolved.IsZero() || inc.Opened.IsZero() {
		return ""
	}
	return fmtDuration(inc.Resolved.Sub(inc.Opened))
}

// fmtDuration is "45s", "12m 30s", "1h 05m", "2d 3h".
func fmtDuration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

func utc(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(timeLayoutUTC)
}

func list(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}

// escape makes text safe in mrkdwn: Slack wants &, < and > escaped.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// fallbackText is the plain-text fallback as sent: Slack parses the text
// field like mrkdwn, so it is escaped as the blocks are (a root cause
// holding "<!channel>" must not notify the whole channel). Truncated
// first, so that no entity is cut in half.
func fallbackText(s string) string {
	return escape(model.Truncate(s, maxFallback))
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, true, false)
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

func section(s string) *slack.SectionBlock {
	return slack.NewSectionBlock(mrkdwn(model.Truncate(s, maxSectionText)), nil, nil)
}
