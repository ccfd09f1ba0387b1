package proto

// Members come in pages ordered by name key: a join ack carries the
// first, and the members event reads the others.
const (
	MembersOnJoin  = 100 // members in a join ack
	MaxMembersPage = 100 // bounds the limit of a members request; its default
)

// MembersRequest is the payload of a client's "members": the page of
// Room's members that follows the member named After ("" from the first),
// at most Limit of them (0: MaxMembersPage).
type MembersRequest struct {
	Room  string `json:"room,omitempty"`
	After string `json:"after,omitempty"`
	Limit int    `json:"limit,omitempty"`
}

// MembersAck answers a members request: a page of members, the room's
// count of users, and whether members follow the page (then ask again
// with After the last one's name).
type MembersAck struct {
	OK          bool     `json:"ok"`
	Room        string   `json:"room"`
	Members     []Member `json:"members"`
	MemberCount int      `json:"memberCount"`
	More        bool     `json:"more"`
}

// MembersPage checks a members request's after and limit, and returns the
// name key that the page follows ("" from the first) and how many members
// it holds at most.
func MembersPage(after string, limit int) (afterKey string, n int, err error) {
	if limit < 0 || limit > MaxMembersPage {
		return "", 0, Errorf(CodeBadRequest, "limit must be 1 to %d", MaxMembersPage)
	}
	if limit == 0 {
		limit = MaxMembersPage
	}
	if after == "" {
		return "", limit, nil
	}
	name, err := NormalizeName(after)
	if err != nil {
		return "", 0, Errorf(CodeBadRequest, "after must be a member's name")
	}
	return NameKey(name), limit, nil
}
