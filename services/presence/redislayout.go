package presence

import "strings"

// The layout of a RedisStore's keys: their prefix, version and hash tag.

// layoutVersion follows the prefix of every key: a store of another
// layout is another store, that of an older version left to expire (all
// but its sorted sets do within the session time to live). The first
// replica of a new version finds no epoch and asks the gateways to
// announce their connections (see Store.Epoch). v3 put every key in one
// hash tag.
const layoutVersion = "v3:"

// keyPrefix is what every key of a store with prefix starts with: prefix
// and layoutVersion, in a hash tag unless prefix has one of its own
// ("{natter}:" → "{natter}:v3:"; "natter:" → "{natter:v3}:"), so that
// Redis Cluster hashes every key of the store to one slot. Braces in a
// prefix without a tag are dropped, lest they end the made one early.
func keyPrefix(prefix string) string {
	if hashTag(prefix) != "" {
		return prefix + layoutVersion
	}
	prefix = strings.NewReplacer("{", "", "}", "").Replace(prefix)
	return "{" + prefix + strings.TrimSuffix(layoutVersion, ":") + "}:"
}

// RedisKeyPrefix is what every key of a RedisStore made with prefix
// starts with: for tools (and tests) that read the store's keys.
func RedisKeyPrefix(prefix string) string { return keyPrefix(prefix) }

// hashTag is the part of a key starting with s that Redis Cluster hashes
// to find its slot, when it lies in s: what is between the first "{" and
// the first "}" after it, unless that is empty.
func hashTag(s string) string {
	_, after, ok := strings.Cut(s, "{")
	if !ok {
		return ""
	}
	tag, _, ok := strings.Cut(after, "}")
	if !ok {
		return ""
	}
	return tag
}
