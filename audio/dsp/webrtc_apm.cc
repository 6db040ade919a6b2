//go:build webrtcapm

#include "webrtc_apm.h"
#include <string.h>
#include <webrtc/modules/audio_processing/include/audio_processing.h>
#include <webrtc/modules/interface/module_common_types.h>

extern "C" {

void *apm_new(int rate, int delay_agnostic, int level) {
	webrtc::Config config;
	config.Set<webrtc::ExtendedFilter>(new webrtc::ExtendedFilter(true));
	config.Set<webrtc::DelayAgnostic>(new webrtc::DelayAgnostic(delay_agnostic != 0));
	webrtc::AudioProcessing *apm = webrtc::AudioProcessing::Create(config);
	apm->high_pass_filter()->Enable(true);
	apm->echo_cancellation()->enable_drift_compensation(false);
	apm->echo_cancellation()->set_suppression_level((webrtc::EchoCancellation::SuppressionLevel)level);
	apm->noise_suppression()->set_level(webrtc::NoiseSuppression::kHigh);
	apm->gain_control()->set_mode(webrtc::GainControl::kAdaptiveDigital);
	apm_set(apm, 1, 1);
	(void)rate;
	return apm;
}

void apm_set(void *h, int echo, int voice) {
	webrtc::AudioProcessing *apm = (webrtc::AudioProcessing *)h;
	apm->echo_cancellation()->Enable(echo != 0);
	apm->noise_suppression()->Enable(voice != 0);
	apm->gain_control()->Enable(voice != 0);
}

// apm_process runs 10 ms frames: n samples at 16 kHz, a multiple of 160.
int apm_process(void *h, int16_t *mic, const int16_t *ref, int n, int delay_ms) {
	webrtc::AudioProcessing *apm = (webrtc::AudioProcessing *)h;
	for (int off = 0; off + 160 <= n; off += 160) {
		webrtc::AudioFrame far;
		far.sample_rate_hz_ = 16000;
		far.num_channels_ = 1;
		far.samples_per_channel_ = 160;
		memcpy(far.data_, ref + off, 160 * sizeof(int16_t));
		int err = apm->ProcessReverseStream(&far);
		if (err != 0)
			return err;
		webrtc::AudioFrame near;
		near.sample_rate_hz_ = 16000;
		near.num_channels_ = 1;
		near.samples_per_channel_ = 160;
		memcpy(near.data_, mic + off, 160 * sizeof(int16_t));
		apm->set_stream_delay_ms(delay_ms);
		err = apm->ProcessStream(&near);
		if (err != 0)
			return err;
		memcpy(mic + off, near.data_, 160 * sizeof(int16_t));
	}
	return 0;
}

void apm_free(void *h) { delete (webrtc::AudioProcessing *)h; }
}
