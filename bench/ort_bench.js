// ONNX Runtime side of bench/compare.sh: times an ONNX model like `vitc bench` (warm-up, then the
// median of N runs) on the CPU execution provider. Prints one JSON object per batch size.
//   node bench/ort_bench.js MODEL.onnx --batches 1,32 --threads 2 --iterations 10 --image-size 224
const ort = require('onnxruntime-node');

function option(name, fallback) {
  const i = process.argv.indexOf('--' + name);
  return i > 0 ? process.argv[i + 1] : fallback;
}

async function main() {
  const path = process.argv[2];
  const threads = parseInt(option('threads', '2'));
  const iterations = parseInt(option('iterations', '10'));
  const warmup = parseInt(option('warmup', '2'));
  const size = parseInt(option('image-size', '224'));
  const session = await ort.InferenceSession.create(path, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionProviders: ['cpu'], graphOptimizationLevel: 'all',
  });
  for (const batch of option('batches', '1,32').split(',').map(Number)) {
    const data = new Float32Array(batch * 3 * size * size).map(() => Math.random() * 2 - 1);
    const feeds = { input: new ort.Tensor('float32', data, [batch, 3, size, size]) };
    const times = [];
    for (let i = 0; i < warmup + iterations; ++i) {
      const start = process.hrtime.bigint();
      await session.run(feeds);
      if (i >= warmup) times.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)];
    console.log(JSON.stringify({
      runtime: 'onnxruntime ' + ort.env.versions.common, precision: 'f32', batch, threads,
      latency_ms_median: median, latency_ms_min: times[0], latency_ms_max: times[times.length - 1],
      images_per_second: batch / median * 1000,
    }));
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
