//go:build webrtcapm

// A C shim over WebRTC's audio processing module (Debian's libwebrtc-audio-processing-dev 0.3, C++), for
// the comparison only (README.md, "Calls and audio").
#ifndef STAYLINE_WEBRTC_APM_H
#define STAYLINE_WEBRTC_APM_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
void *apm_new(int rate, int delay_agnostic, int level);
void apm_set(void *h, int echo, int voice);
int apm_process(void *h, int16_t *mic, const int16_t *ref, int n, int delay_ms);
void apm_free(void *h);
#ifdef __cplusplus
}
#endif
#endif
