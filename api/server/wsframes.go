package server

import "encoding/binary"

// wsScanner follows the frames a gRPC-Web client sends on its websocket
// (RFC 6455 §5.2), as their bytes pass in pieces of any size, to count the
// message bytes that will reach gRPC: the websocket library reads each
// message whole before gRPC-Web hands it on, so those bytes are held from
// the moment they are read. The first message carries the call's headers,
// not request bytes; each later one begins with a byte of gRPC-Web's own
// (0: data follows, 1: the client is done sending).
type wsScanner struct {
	hdr   [14]byte
	nhdr  int   // header bytes seen of the current frame
	need  int   // the current frame's header length, once known (0: not yet)
	left  int64 // payload bytes of the current frame still to come
	data  bool  // the current frame is part of a data message (not control)
	msgs  int   // data messages begun
	first bool  // the next data byte is the first of its message
}

// scan follows p and returns how many of its bytes are request bytes.
func (s *wsScanner) scan(p []byte) int64 {
	var n int64
	for len(p) > 0 {
		if s.need == 0 || s.nhdr < s.need {
			if s.nhdr < 2 {
				k := copy(s.hdr[s.nhdr:2], p)
				s.nhdr += k
				p = p[k:]
				if s.nhdr < 2 {
					return n
				}
			}
			if s.need == 0 {
				s.need = 2
				switch s.hdr[1] & 0x7f {
				case 126:
					s.need += 2
				case 127:
					s.need += 8
				}
				if s.hdr[1]&0x80 != 0 {
					s.need += 4 // the client's masking key
				}
			}
			k := copy(s.hdr[s.nhdr:s.need], p)
			s.nhdr += k
			p = p[k:]
			if s.nhdr < s.need {
				return n
			}
			switch l := s.hdr[1] & 0x7f; l {
			case 126:
				s.left = int64(binary.BigEndian.Uint16(s.hdr[2:]))
			case 127:
				s.left = int64(binary.BigEndian.Uint64(s.hdr[2:]) & (1<<63 - 1))
			default:
				s.left = int64(l)
			}
			op := s.hdr[0] & 0x0f
			s.data = op < 8
			if s.data && op != 0 { // a new message; 0 continues one
				s.msgs++
				s.first = true
			}
		}
		k := min(s.left, int64(len(p)))
		if s.data && s.msgs > 1 && k > 0 {
			n += k
			if s.first {
				n--
				s.first = false
			}
		}
		s.left -= k
		p = p[k:]
		if s.left == 0 {
			s.nhdr, s.need = 0, 0
		}
	}
	return n
}
