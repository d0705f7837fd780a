package evaluate

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// The feed group: a BGP session down is monitor health, not an outage.

// feedVerdict: a BGP session is down (or never came up after the start
// grace): monitor health, not an outage.
func (e *Evaluator) feedVerdict(name string, now time.Time) verdict {
	if f := e.feeds[name]; f != nil {
		return e.feedSourceVerdict(f, now)
	}
	v := verdict{known: true, subjectKind: model.SubjectPeer}
	p := e.peers[name]
	if p == nil || !e.lost(p.up, p.downSince, p.configured, now) {
		return v
	}
	v.kind, v.severity = model.IncidentFeedLost, model.SeverityInfo
	v.evidence = slices.Clone(p.ev)
	usable, _ := e.bgpUsable(now)
	v.explain(feedLost{peer: p.label(), neverUp: p.downSince.IsZero(), reason: p.reason, othersCarry: usable})
	return v
}

// feedLost is the finding of feedVerdict.
type feedLost struct {
	peer        string // its label: "192.0.2.1 (AS64500, upstream)"
	feed        bool   // a source's feed (a router's BMP session), not a peer
	session     string // a feed's kind of session ("BMP session")
	neverUp     bool   // not up since reachmon started
	reason      string // why it went down, when it did
	othersCarry bool   // the other sessions still carry the BGP verdicts
}

// feed is a source's feed that carries several peers (a router's BMP
// session): its loss is one feed_lost incident for all its peers.
type feed struct {
	name, label, source string
	configured          bool
	up                  bool
	downSince           time.Time
	reason              string
	ev                  ring
}

// Feed is a configured feed (a [[bmp.router]]): one that never comes up
// after the start grace is a lost feed.
type Feed struct {
	Name   string // "bmp router edge1"
	Label  string // "BMP router edge1 (192.0.2.10)"
	Source string // model.SourceBMP
}

func (e *Evaluator) feedOf(name string) *feed {
	f := e.feeds[name]
	if f == nil {
		f = &feed{name: name, label: name}
		e.feeds[name] = f
		e.feedOrder = append(e.feedOrder, name)
		slices.Sort(e.feedOrder)
	}
	return f
}

func (e *Evaluator) feedEvent(ev model.FeedEvent, now time.Time) {
	f := e.feedOf(ev.Feed)
	if ev.Label != "" {
		f.label = ev.Label
	}
	if ev.Source != "" {
		f.source = ev.Source
	}
	if ev.Up {
		f.up, f.reason = true, ""
		f.ev.add(ev.Time, fmt.Sprintf("%s %s established", sessionWord(f.source), f.label))
	} else {
		f.up, f.downSince, f.reason = false, ev.Time, ev.Reason
		line := fmt.Sprintf("%s %s lost", sessionWord(f.source), f.label)
		if ev.Reason != "" {
			line += " (" + ev.Reason + ")"
		}
		f.ev.add(ev.Time, line+": the routes of its peers are unknown, not withdrawn")
	}
	e.evalSlot(e.slotFor(groupFeed, f.name, true), now)
}

// sessionWord names a feed's kind of session.
func sessionWord(source string) string {
	switch source {
	case model.SourceBMP:
		return "BMP session of"
	case model.SourceRISLive:
		return "RIS Live connection of"
	}
	return "session of"
}

// lost reports whether a session or feed is lost: down after it was up,
// or configured and never up once the start grace has passed.
func (e *Evaluator) lost(up bool, downSince time.Time, configured bool, now time.Time) bool {
	if up {
		return false
	}
	return !downSince.IsZero() || configured && now.Sub(e.start) >= e.cfg.StartGrace.Duration
}

// feedSourceVerdict is feedVerdict for a source's feed.
func (e *Evaluator) feedSourceVerdict(f *feed, now time.Time) verdict {
	v := verdict{known: true, subjectKind: model.SubjectPeer}
	if !e.lost(f.up, f.downSince, f.configured, now) {
		return v
	}
	v.kind, v.severity = model.IncidentFeedLost, model.SeverityInfo
	v.evidence = slices.Clone(f.ev)
	usable, _ := e.bgpUsable(now)
	word := strings.TrimSuffix(sessionWord(f.source), " of")
	v.explain(feedLost{peer: f.label, feed: true, session: word, neverUp: f.downSince.IsZero(), reason: f.reason, othersCarry: usable})
	return v
}

// evalFeedSlots evaluates the feed_lost slot of every embedded neighbor
// and every source's feed.
func (e *Evaluator) evalFeedSlots(now time.Time) {
	for _, name := range e.peerOrder {
		if e.peers[name].feed == "" {
			e.evalSlot(e.slotFor(groupFeed, name, true), now)
		}
	}
	for _, name := range e.feedOrder {
		e.evalSlot(e.slotFor(groupFeed, name, true), now)
	}
}

// removeFeed forgets a feed that is no longer configured.
func (e *Evaluator) removeFeed(name string, now time.Time) {
	e.closeSlot(groupFeed, name, now, ReasonFeedRemoved)
	delete(e.feeds, name)
	e.feedOrder = slices.DeleteFunc(e.feedOrder, func(n string) bool { return n == name })
}
