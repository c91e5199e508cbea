const group = (name: string, fmr: number | null, fnmr: number | null, impostorPairs: number, genuinePairs: number, enough: boolean, reason?: string) => ({
  group: name, fmr, fnmr, impostorPairs, genuinePairs, enough, fmrRatioToOverall: fmr === null ? null : fmr / 1e-3, fnmrRatioToOverall: fnmr === null ? null : fnmr / 0.02, ...(reason ? { reason } : {}),
});

/** A results.json as `probity evaluate` writes it for LFW: empty, too-small and normal groups. */
export function resultsWithAwkwardGroups() {
  return {
    generatedAt: '2026-11-30T12:00:00.000Z',
    dataset: { name: 'lfw', images: 13233, identities: 5749, sliced: false },
    model: { id: 'mobilefacenet-512', engine: { flipAverage: true, minFaceSize: 20, detectionThreshold: 0.5 } },
    view2: { mean: 0.9913, std: 0.004, pairs: 6000, pairsSkipped: 0 },
    allPairs: {
      eer: 0.012, operatingPoints: [
        { fmr: 1e-3, threshold: 0.31, tar: 0.98, impostorsAtOrAbove: 900, supported: true },
        { fmr: 1e-6, threshold: 0.52, tar: 0.71, impostorsAtOrAbove: 1, supported: false },
      ],
    },
    demographics: {
      targetFmr: 1e-3, threshold: 0.31, overall: { fmr: 1e-3, fnmr: 0.02 },
      groupings: {
        sex: {
          groups: [
            group('female', 1.4e-3, 0.03, 2_000_000, 4000, true),
            group('male', 0.9e-3, 0.018, 30_000_000, 180_000, true),
            group('unknown', null, null, 0, 0, false, 'fewer than 3000 impostor pairs; fewer than 100 genuine pairs; not a labelled group'),
          ],
          fmrMaxMinRatio: 1.56, fnmrMaxMinRatio: 1.67,
        },
        'race x sex': {
          groups: [
            group('black female', 0, 0.05, 1200, 40, false, 'fewer than 3000 impostor pairs; fewer than 100 genuine pairs'),
            group('white male', 0.8e-3, 0.017, 20_000_000, 150_000, true),
            group('unknown unknown', null, null, 0, 0, false, 'not a labelled group'),
          ],
          fmrMaxMinRatio: null, fnmrMaxMinRatio: null,
        },
      },
    },
  };
}
