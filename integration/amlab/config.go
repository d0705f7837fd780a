package amlab

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// Timing replaces the route tree's group_wait, group_interval and
// repeat_interval (on the root route; the sub-routes' own values are
// dropped so that they inherit it).
type Timing struct {
	GroupWait, GroupInterval, RepeatInterval time.Duration
}

// TestOptions says how TestConfig changes the shipped configuration.
type TestOptions struct {
	// SlackURLFile replaces global.slack_api_url_file.
	SlackURLFile string
	// Webhook, when set, replaces every receiver's slack_configs by one
	// webhook_configs entry to Webhook(receiver name), keeping its
	// send_resolved.
	Webhook func(receiver string) string
	Timing  Timing
}

// TestConfig derives a test configuration from the shipped
// config/alertmanager.yml: the same routes, grouping, inhibitions and
// receivers, with the Slack URL file, the receivers and the timing
// replaced as o says. Templates keep their relative paths (write them
// beside the result).
func TestConfig(shipped []byte, o TestOptions) ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(shipped, &doc); err != nil {
		return nil, fmt.Errorf("alertmanager.yml: %w", err)
	}
	global, _ := doc["global"].(map[string]any)
	if global == nil {
		global = map[string]any{}
		doc["global"] = global
	}
	if o.SlackURLFile != "" {
		global["slack_api_url_file"] = o.SlackURLFile
	}
	route, ok := doc["route"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("alertmanager.yml: no route")
	}
	for k, d := range map[string]time.Duration{"group_wait": o.Timing.GroupWait, "group_interval": o.Timing.GroupInterval,
		"repeat_interval": o.Timing.RepeatInterval} {
		if d == 0 {
			continue
		}
		route[k] = d.String()
		dropInRoutes(route, k)
	}
	if o.Webhook != nil {
		receivers, _ := doc["receivers"].([]any)
		for _, r := range receivers {
			rm, _ := r.(map[string]any)
			if rm == nil {
				continue
			}
			name, _ := rm["name"].(string)
			sendResolved := true
			if sc, ok := rm["slack_configs"].([]any); ok {
				if len(sc) > 0 {
					if c, ok := sc[0].(map[string]any); ok {
						if v, ok := c["send_resolved"].(bool); ok {
							sendResolved = v
						}
					}
				}
				delete(rm, "slack_configs")
				rm["webhook_configs"] = []any{map[string]any{"url": o.Webhook(name), "send_resolved": sendResolved}}
			}
		}
	}
	return yaml.Marshal(doc)
}

// dropInRoutes deletes key from every sub-route of r.
func dropInRoutes(r map[string]any, key string) {
	subs, _ := r["routes"].([]any)
	for _, s := range subs {
		if sm, ok := s.(map[string]any); ok {
			delete(sm, key)
			dropInRoutes(sm, key)
		}
	}
}
