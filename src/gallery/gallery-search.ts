import type { Db } from './db.js';
import { asFloats, KEY_COLUMNS, KEY_JOIN, type SubjectKeys, type WrappedKeyRow } from './subject-keys.js';
import { ExactIndex } from '../matching/exact-index.js';
import { HnswIndex } from '../matching/hnsw-index.js';
import type { SearchHit, VectorIndex } from '../matching/vector-index.js';

/** Candidates taken from an approximate index and rescored exactly (see the index benchmark). */
const RESCORED = 40;

interface GalleryState {
  version: number;
  index: VectorIndex;
  /** Template id to the subject's reference. */
  subjectOf: Map<number, string>;
}

export interface SubjectHit {
  subject: string;
  templateId: number;
  score: number;
}

export interface GallerySearchOptions {
  /** Above this many templates a gallery is searched by HNSW instead of an exact scan. */
  hnswAbove: number;
}

/**
 * One in-memory search index per gallery, kept in step with storage. Every write to a gallery
 * numbers itself in `template_changes` (under the gallery row's lock); before each search this
 * process replays the changes it has not seen, so a template enrolled or erased by any process
 * is found, or not, by the very next search anywhere.
 */
export class GallerySearch {
  private readonly states = new Map<string, GalleryState>();
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly db: Db,
    private readonly keys: SubjectKeys,
    private readonly dimension: number,
    private readonly options: GallerySearchOptions = { hnswAbove: 50_000 },
  ) {}

  /** Bring a gallery's index up to `version` (the version storage reports now). */
  async catchUp(galleryId: string, version: number): Promise<GalleryState> {
    const prior = this.locks.get(galleryId) ?? Promise.resolve();
    const next = prior.then(() => this.catchUpNow(galleryId, version));
    this.locks.set(galleryId, next.catch(() => undefined));
    return next;
  }

  private async catchUpNow(galleryId: string, version: number): Promise<GalleryState> {
    let state = this.states.get(galleryId);
    if (!state) {
      state = await this.load(galleryId);
      this.states.set(galleryId, state);
    }
    if (state.version >= version) return state;
    const changes = await this.db.all<{ version: number; template_id: number; op: string; uuid: string | null; sealed: Buffer | null; ref: string | null } & WrappedKeyRow>(
      `SELECT c.version, c.template_id, c.op, t.uuid, t.sealed, s.ref, ${KEY_COLUMNS}
         FROM template_changes c
         LEFT JOIN templates t ON t.id = c.template_id
         LEFT JOIN subjects s ON s.id = t.subject_id
         ${KEY_JOIN}
        WHERE c.gallery_id = $1 AND c.version > $2
        ORDER BY c.version`,
      [galleryId, state.version],
    );
    this.keys.session((open) => {
      for (const c of changes) {
        const id = Number(c.template_id);
        if (c.op === 'remove') {
          state.index.remove(id);
          state.subjectOf.delete(id);
        } else if (c.uuid && c.sealed && c.ref !== null) {
          // A template added and since removed has no row: its removal follows in this same list.
          state.index.add(id, asFloats(open(c.sealed, c.uuid, c)));
          state.subjectOf.set(id, c.ref);
        }
        state.version = Math.max(state.version, Number(c.version));
      }
    });
    if (state.index.kind === 'exact' && state.index.size > this.options.hnswAbove) state.index = this.promote(state.index as ExactIndex);
    return state;
  }

  private async load(galleryId: string): Promise<GalleryState> {
    // The version first, then the rows: a write in between is then replayed again, which is
    // harmless, rather than missed.
    const g = await this.db.one<{ version: number }>(`SELECT version FROM galleries WHERE id = $1`, [galleryId]);
    const rows = await this.db.all<{ id: number; uuid: string; sealed: Buffer; ref: string } & WrappedKeyRow>(
      `SELECT t.id, t.uuid, t.sealed, s.ref, ${KEY_COLUMNS} FROM templates t JOIN subjects s ON s.id = t.subject_id ${KEY_JOIN} WHERE t.gallery_id = $1`,
      [galleryId],
    );
    let index: VectorIndex = new ExactIndex(this.dimension, rows.length + 16);
    const subjectOf = new Map<number, string>();
    this.keys.session((open) => {
      for (const r of rows) {
        index.add(Number(r.id), asFloats(open(r.sealed, r.uuid, r)));
        subjectOf.set(Number(r.id), r.ref);
      }
    });
    if (index.size > this.options.hnswAbove) index = this.promote(index as ExactIndex);
    return { version: Number(g?.version ?? 0), index, subjectOf };
  }

  private promote(exact: ExactIndex): HnswIndex {
    const hnsw = new HnswIndex(this.dimension);
    const ids = exact.ids();
    const vectors = new Float32Array(ids.length * this.dimension);
    ids.forEach((id, i) => vectors.set(exact.vector(id)!, i * this.dimension));
    hnsw.addMany(ids, vectors);
    return hnsw;
  }

  /**
   * The best template of each of the `k` best subjects. Several templates may belong to one
   * subject, so more are asked for; an approximate index's scores are first replaced by exact
   * ones (`exact`, from the stored templates), so the ranking and every score returned are exact.
   *
   * With `eligible`, only the subjects it accepts are ranked, and the `k` best of THEM are found
   * however many others score higher: the search widens until it has `k` eligible subjects or
   * has seen the whole index, and when few templates are eligible they are scored directly.
   */
  async search(
    state: GalleryState,
    query: Float32Array,
    k: number,
    exact: (hits: SearchHit[]) => Promise<SearchHit[]>,
    eligible?: (subject: string) => boolean,
  ): Promise<SubjectHit[]> {
    const size = state.index.size;
    let want = Math.min(size, Math.max(RESCORED, k * 4 + 8));
    if (eligible) {
      const ids: number[] = [];
      for (const [id, subject] of state.subjectOf) if (eligible(subject)) ids.push(id);
      if (ids.length <= want || state.index.kind === 'exact' && ids.length * 4 <= size) return this.rank(state, await this.scoreDirectly(state, ids, query, exact), k, eligible);
    }
    for (;;) {
      let hits = state.index.search(query, want);
      if (state.index.kind !== 'exact') hits = await exact(eligible ? hits.filter((h) => eligible(state.subjectOf.get(h.id) ?? '')) : hits);
      const ranked = this.rank(state, hits, k, eligible);
      if (!eligible || ranked.length >= k || want >= size) return ranked;
      want = Math.min(size, want * 4);
    }
  }

  private rank(state: GalleryState, hits: SearchHit[], k: number, eligible?: (subject: string) => boolean): SubjectHit[] {
    const best = new Map<string, SubjectHit>();
    for (const h of hits) {
      const subject = state.subjectOf.get(h.id);
      if (subject === undefined || (eligible && !eligible(subject))) continue;
      const seen = best.get(subject);
      if (!seen || h.score > seen.score) best.set(subject, { subject, templateId: h.id, score: h.score });
    }
    return [...best.values()].sort((a, b) => b.score - a.score).slice(0, k);
  }

  /** Exact scores for the given templates: from the exact index's own vectors, or from storage. */
  private async scoreDirectly(state: GalleryState, ids: number[], query: Float32Array, exact: (hits: SearchHit[]) => Promise<SearchHit[]>): Promise<SearchHit[]> {
    if (state.index instanceof ExactIndex) {
      const index = state.index;
      return ids.map((id) => {
        const v = index.vector(id)!;
        let dot = 0;
        for (let i = 0; i < v.length; i++) dot += v[i]! * query[i]!;
        return { id, score: dot };
      });
    }
    const out: SearchHit[] = [];
    for (let i = 0; i < ids.length; i += 500) out.push(...(await exact(ids.slice(i, i + 500).map((id) => ({ id, score: 0 })))));
    return out;
  }

  /** Which kind of index serves a gallery now, if this process has loaded it. */
  kindOf(galleryId: string): VectorIndex['kind'] | undefined {
    return this.states.get(galleryId)?.index.kind;
  }

  /** The gallery version this process's index has reached, if it has loaded the gallery (for the index lag metric). */
  versionOf(galleryId: string): number | undefined {
    return this.states.get(galleryId)?.version;
  }

  templateCount(state: GalleryState): number {
    return state.index.size;
  }

  forget(galleryId: string): void {
    this.states.delete(galleryId);
    this.locks.delete(galleryId);
  }
}
