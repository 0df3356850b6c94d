// A CPU profile of one page over the Chrome DevTools protocol (playwright-core's CDP session), summed up as the
// functions with the most self time: what bench/web-code.ts --profile prints to show where a page spends a transfer.
// Only the page's main thread is sampled; its workers and the service worker are not.
import type { Page } from 'playwright-core';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Starts sampling `page`; the returned function stops it and returns the top `count` lines of self time. */
export async function profilePage(page: Page, label: string): Promise<(count?: number) => Promise<string>> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  await cdp.send('Profiler.start');
  return async (count = 15) => {
    const { profile } = (await cdp.send('Profiler.stop')) as unknown as { profile: Profile };
    await cdp.detach();
    const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
    const self = new Map<string, number>();
    let total = 0;
    profile.samples.forEach((id, i) => {
      const delta = profile.timeDeltas[i] ?? 0;
      const frame = nodes.get(id)?.callFrame;
      const file = frame?.url.split('/').pop() ?? '';
      const key = `${frame?.functionName || '(anonymous)'} ${file}:${(frame?.lineNumber ?? 0) + 1}`;
      self.set(key, (self.get(key) ?? 0) + delta);
      total += delta;
    });
    const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, count);
    const lines = top.map(
      ([key, us]) =>
        `  ${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / total).toFixed(1).padStart(5)}%  ${key}`,
    );
    return [`${label}: ${(total / 1000).toFixed(0)} ms sampled`, ...lines].join('\n');
  };
}
