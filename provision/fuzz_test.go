package provision

import (
	"context"
	"strings"
	"testing"
)

// FuzzSettings: any settings text is read and applied without harm; what is applied makes a valid
// configuration, or the error names a line.
func FuzzSettings(f *testing.F) {
	f.Add([]byte("SET SIP_CONTROLLER_LIST \"10.0.0.1:5061;transport=tls,10.0.0.2\"\nSET SIPSIGNAL 0\n"))
	f.Add([]byte("IF $MODEL4 SEQ 9641 GOTO X\n# X\nSET FAST_RESPONSE_TIMEOUT 0.5\nSET TCP_KEEP_ALIVE_TIME 1\n"))
	f.Add([]byte("SET MEDIAENCRYPTION \"1,2,9\"\nSET ENABLE_G711U 0\nSET ENABLE_OPUS 1\nGET other.txt\n"))
	f.Add([]byte("SET STAYLINE_FEATURES_2 hold,mwi\nSET STAYLINE_SERVER_NAMES a,b\nSET DISPLAY_NAME \"x\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &Script{}
		// At the depth limit, a GET fails at once instead of reading the machine's files.
		if err := s.parse(context.Background(), "fuzz.txt", data, maxDepth, map[string]bool{}); err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.txt:") {
				t.Fatalf("error without its line: %v", err)
			}
			return
		}
		cfg := account()
		if _, err := Apply(cfg, s); err == nil {
			reparse(t, cfg) // must read back as a valid configuration
		}
	})
}
