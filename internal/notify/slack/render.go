package slack

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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
	maxEvidenceText = 500
	maxButtonURL    = 3000
	evidenceCut     = "\n… and %d more (see the incident in the API)"
	actionsBlockID  = "reachmon_links"
	actionRunbook   = "reachmon_runbook"
	actionDashboard = "reachmon_dashboard"
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
// critical"). mention, when set, is prefixed to the text and the blocks
// (a critical page of a route with a mention; see renderer.mention).
//
// Below the facts: the runbook and dashboard as URL buttons (bot mode) or
// links in the context line (webhook mode), and while the incident is
// open the exact command that silences it.
func (r renderer) incident(inc model.Incident, status, mention string) message {
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
	if mention != "" {
		blocks = append(blocks, section(mention))
	}
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
		mrkdwn("*Opened*\n" + when(inc.Opened)),
	}
	if !inc.Confirmed.IsZero() && !inc.Confirmed.Equal(inc.Opened) {
		fields = append(fields, mrkdwn("*Confirmed*\n"+when(inc.Confirmed)))
	}
	if !inc.IsOpen() && !inc.Resolved.IsZero() {
		fields = append(fields, mrkdwn("*Resolved*\n"+when(inc.Resolved)))
		if d := duration(inc); d != "" {
			fields = append(fields, mrkdwn("*Duration*\n"+d))
		}
	}
	if inc.IsOpen() && !inc.ImpactAt.IsZero() {
		fields = append(fields, mrkdwn("*Impact expected*\n"+when(inc.ImpactAt)))
	}
	blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil))
	if len(inc.Affected) > 0 {
		blocks = append(blocks, section("*Affected:* "+escape(list(inc.Affected, maxAffected))))
	}
	if ev := evidence(inc.Evidence, "Evidence"); ev != "" {
		blocks = append(blocks, section(ev))
	}
	buttons := r.cfg.BotMode()
	if buttons {
		if b, ok := r.buttons(inc); ok {
			blocks = append(blocks, b)
		}
	}
	if inc.IsOpen() && !inc.IsSilenced() {
		if s, ok := silenceSection(inc); ok {
			blocks = append(blocks, s)
		}
	}
	blocks = append(blocks, r.context(inc, !buttons))
	return message{text: withMention(mention, fallbackText(fallback)), blocks: blocks}
}

// mention is the route's mention (config.SlackConfig.MentionFor) when d
// pages critically: the page of a critical incident (or an update posted
// in its stead), or an update that raised the incident to critical.
// Never updates otherwise, reminders, resolves or warnings.
func (r renderer) mention(d notify.Delivery) string {
	inc := d.Incident
	if inc.Severity != model.SeverityCritical || !inc.IsOpen() {
		return ""
	}
	switch d.Kind {
	case notify.KindOpen:
	case notify.KindUpdate:
		// The last delivered message says whether this one raises the
		// severity; without it (a state written before it was kept),
		// the evaluator's reason does.
		if d.Previous.ID != "" {
			if d.Previous.Severity == model.SeverityCritical {
				return ""
			}
		} else if !raisedToCritical(d.Reason) {
			return ""
		}
	default:
		return ""
	}
	return strings.Join(strings.Fields(r.cfg.MentionFor(d.Channel, inc.Kind, inc.Severity)), " ")
}

// raisedToRe is the cause an update carries when the evaluator raised an
// incident's severity to critical (internal/evaluate's severityChanged;
// causes are joined by "; ", see model.IncidentChange.Material).
var raisedToRe = regexp.MustCompile(`^severity (warning|info) -> critical$`)

func raisedToCritical(reason string) bool {
	for c := range strings.SplitSeq(reason, "; ") {
		if raisedToRe.MatchString(c) {
			return true
		}
	}
	return false
}

// withMention prefixes the mention to a message's text (the fallback
// Slack notifies with); the mention is validated configuration, not
// escaped.
func withMention(mention, text string) string {
	if mention == "" {
		return text
	}
	return mention + " " + text
}

// threadReply renders an update, reminder or resolution in the thread;
// mention (see renderer.mention) is prefixed to an upgrade to critical.
func (r renderer) threadReply(d notify.Delivery, mention string) message {
	inc := d.Incident
	var head, fallback string
	switch d.Kind {
	case notify.KindResolve:
		head = ":white_check_mark: *Resolved*"
		if !inc.Resolved.IsZero() {
			head += " at " + when(inc.Resolved)
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
		head = fmt.Sprintf(":rotating_light: *Still open* after %s (since %s)", fmtDuration(d.Now.Sub(inc.Opened)), when(inc.Opened))
		fallback = "Still open: " + inc.Headline()
	default:
		head = fmt.Sprintf("%s *Update:* %s", severityEmoji(inc.Severity), escape(d.Reason))
		fallback = "Update: " + inc.Headline() + ": " + d.Reason
	}
	blocks := []slack.Block{section(withMention(mention, head))}
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
	blocks = append(blocks, r.context(inc, true))
	return message{text: withMention(mention, fallbackText(fallback)), blocks: blocks}
}

// webhook renders one self-contained message per transition.
func (r renderer) webhook(d notify.Delivery) message {
	switch d.Kind {
	case notify.KindUpdate:
		return r.incident(d.Incident, "Update: "+d.Reason, r.mention(d))
	case notify.KindReminder:
		return r.incident(d.Incident, fmt.Sprintf("Still open after %s", fmtDuration(d.Now.Sub(d.Incident.Opened))), "")
	}
	return r.incident(d.Incident, "", r.mention(d))
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
	const tail = ": if you can read this, reachmon can page this channel."
	head := fmt.Sprintf("%s from vantage %s at ", testMessageText, r.vantage)
	return message{text: fallbackText(head + utc(now) + tail), blocks: []slack.Block{
		slack.NewHeaderBlock(plain(":white_check_mark: reachmon test message")),
		section(escape(head) + when(now) + escape(tail)),
	}}
}

// context is the message's last line: the incident's ID and the vantage,
// after the dashboard and runbook links when links is set (thread
// replies, webhook mode; bot-mode pages carry them as buttons).
func (r renderer) context(inc model.Incident, links bool) slack.Block {
	var parts []string
	if links {
		if u := r.cfg.Link(r.cfg.GrafanaURL, inc); u != "" {
			parts = append(parts, "<"+u+"|Grafana dashboard>")
		}
		if u := r.cfg.Link(r.cfg.RunbookURL, inc); u != "" {
			parts = append(parts, "<"+u+"|Runbook>")
		}
	}
	id := "incident `" + escape(inc.ID) + "`"
	if r.vantage != "" {
		id += " · vantage " + escape(r.vantage)
	}
	parts = append(parts, id)
	return slack.NewContextBlock("", mrkdwn(strings.Join(parts, " · ")))
}

// buttons is the actions block of a bot-mode page: the runbook and the
// dashboard as URL buttons; ok is false when neither is configured. A
// URL longer than Slack accepts in a button is left out (Slack would
// refuse the whole message).
func (r renderer) buttons(inc model.Incident) (slack.Block, bool) {
	var els []slack.BlockElement
	for _, b := range []struct{ id, label, tmpl string }{
		{actionRunbook, "Runbook", r.cfg.RunbookURL},
		{actionDashboard, "Grafana dashboard", r.cfg.GrafanaURL},
	} {
		u := r.cfg.Link(b.tmpl, inc)
		if u == "" || len(u) > maxButtonURL {
			continue
		}
		e := slack.NewButtonBlockElement(b.id, "", plain(b.label))
		e.URL = u
		els = append(els, e)
	}
	if len(els) == 0 {
		return nil, false
	}
	return slack.NewActionBlock(actionsBlockID, els...), true
}

// silenceFor is how long the suggested silence lasts.
const silenceFor = "2h"

// silenceCommand is the reachmon command that silences this incident's
// kind and subject for silenceFor, quoted for a POSIX shell.
func silenceCommand(inc model.Incident) string {
	return "reachmon silence add --kind " + shellWord(string(inc.Kind)) +
		" --subject " + shellQuote(subjectPattern(inc.Subject)) +
		" --for " + silenceFor + ` --reason "..."`
}

// maxSubjectPattern is the longest subject pattern reachmon silence
// accepts.
const maxSubjectPattern = 256

// subjectPattern is the narrowest silence subject pattern matching
// subject. Patterns are globs where "*" matches any run of characters
// and "?" one character, without escapes, and refuse "[", "]", "\",
// spaces and control characters: each "*" and each refused character of
// subject becomes "?", which still matches it (and anything differing
// there by one character) but no longer matches a run. Subjects are zone
// names, prefixes, resolver names, peers and vantages, so this is
// almost always the subject itself; one longer than a pattern may be is
// cut and ends with "*".
func subjectPattern(subject string) string {
	var b strings.Builder
	for _, r := range subject {
		if r == '*' || r == '[' || r == ']' || r == '\\' || r == utf8.RuneError || unicode.IsSpace(r) || unicode.IsControl(r) {
			r = '?'
		}
		b.WriteRune(r)
	}
	p := b.String()
	if len(p) <= maxSubjectPattern {
		return p
	}
	cut := maxSubjectPattern - 1
	for cut > 0 && !utf8.RuneStart(p[cut]) {
		cut--
	}
	return p[:cut] + "*"
}

// silenceSection shows silenceCommand as a code block; ok is false when
// it cannot be shown whole (a subject holding "```" or too long).
func silenceSection(inc model.Incident) (slack.Block, bool) {
	cmd := silenceCommand(inc)
	if strings.Contains(cmd, "```") {
		return nil, false
	}
	text := "*Silence for " + silenceFor + ":*\n```" + escape(cmd) + "```"
	if len(text) > maxSectionText {
		return nil, false
	}
	return slack.NewSectionBlock(mrkdwn(text), nil, nil), true
}

// shellQuote quotes s for a POSIX shell: inside single quotes nothing is
// special (no $, backtick, backslash or ! expansion), and each single
// quote of s closes the quotes, adds an escaped quote and reopens them.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var shellSafeRe = regexp.MustCompile(`^[A-Za-z0-9_.,:/=+-]+$`)

// shellWord is s as is when no shell would interpret it, else quoted.
func shellWord(s string) string {
	if shellSafeRe.MatchString(s) {
		return s
	}
	return shellQuote(s)
}

// evidence renders items as a bulleted timeline, times as date tokens.
// Whole lines only: a line that no longer fits in a section ends the
// list with a note, so that no token or escape is cut in half.
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
	for i, e := range items {
		line := "\n• " + clock(e.Time) + " " + escape(model.Truncate(e.Text, maxEvidenceText))
		if b.Len()+len(line) > maxSectionText-len(evidenceCut) {
			fmt.Fprintf(&b, evidenceCut, len(items)-i)
			break
		}
		b.WriteString(line)
	}
	return b.String()
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

// utc is t in UTC, for plain text (fallbacks, logs).
func utc(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(timeLayoutUTC)
}

// when is t as a Slack date token: every reader sees the date and time
// in their own time zone ("Today 17:40:02"), clients that cannot render
// it show the UTC fallback after the bar.
func when(t time.Time) string {
	return dateToken(t, "{date_short_pretty} {time_secs}", timeLayoutUTC)
}

// clock is t's time of day as a Slack date token (timelines), with the
// UTC time as fallback.
func clock(t time.Time) string {
	return dateToken(t, "{time_secs}", clockLayoutUTC)
}

func dateToken(t time.Time, format, layout string) string {
	if t.IsZero() {
		return "-"
	}
	fb := t.UTC().Format(layout)
	if t.Unix() < 0 {
		return fb
	}
	return fmt.Sprintf("<!date^%d^%s|%s>", t.Unix(), format, fb)
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
