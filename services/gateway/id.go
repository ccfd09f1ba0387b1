package gateway

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"

	"github.com/natter/natter/proto"
)

var idState struct {
	sync.Mutex
	ms   uint64
	rand [10]byte
}

// newID returns a unique, time-sortable id of 26 characters: 48 bits of
// Unix milliseconds then 80 random bits, which grow by one for ids made in
// the same millisecond, so a gateway's ids are strictly increasing.
func newID() string {
	ms := uint64(time.Now().UnixMilli())
	idState.Lock()
	if ms <= idState.ms {
		ms = idState.ms
		increment(idState.rand[:])
	} else {
		idState.ms = ms
		rand.Read(idState.rand[:])
	}
	var b [16]byte
	binary.BigEndian.PutUint16(b[0:2], uint16(ms>>32))
	binary.BigEndian.PutUint32(b[2:6], uint32(ms))
	copy(b[6:], idState.rand[:])
	idState.Unlock()
	return encode(b)
}

func increment(b []byte) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i]++
		if b[i] != 0 {
			return
		}
	}
}

// encode writes 128 bits as 26 base32 characters, the first carrying the
// top 3 bits.
func encode(b [16]byte) string {
	hi := binary.BigEndian.Uint64(b[0:8])
	lo := binary.BigEndian.Uint64(b[8:16])
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = proto.IDAlphabet[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}
