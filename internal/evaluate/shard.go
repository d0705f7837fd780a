package evaluate

// ShardStatus is the status document's "shard" object: this instance is
// shard Index of Count ([shard] in the configuration) and watches Zones
// of the Of configured zones (the ones it owns, and the control zones,
// which every instance keeps). Without [shard] it is 0 of 1, every zone.
type ShardStatus struct {
	Index int `json:"index"`
	Count int `json:"count"`
	Zones int `json:"zones"`
	Of    int `json:"of"`
}
