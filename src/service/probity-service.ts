import { SignInService } from './sign-in-service.js';
import { dirname, join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { AnalysedFace, FaceEngine, Template } from '../engine/engine.js';
import type { Box } from '../engine/geometry.js';
import type { QualityLevel } from '../engine/quality.js';
import { isProbityError, ProbityError } from '../errors.js';
import type { Db, Queryable } from '../gallery/db.js';
import { requireGalleryModel } from '../gallery/model-guard.js';
import { GallerySearch } from '../gallery/gallery-search.js';
import { eraseGalleryRows, eraseSubjectRows, insertTemplate, removeSubjectTemplates } from '../gallery/template-store.js';
import { eraseStoredAnswers } from '../gallery/erasure-mentions.js';
import { mismatchError, replacementMismatchError, samePersonCheck, SAME_PERSON_RULE } from '../governance/enrolment-consistency.js';
import type { ErasureLedger } from '../gallery/erasure-ledger.js';
import { SafeguardLedger } from '../gallery/safeguard-ledger.js';
import { asFloats, INSTALLATION_KEY_META, KEY_COLUMNS, KEY_JOIN, KeyRing, SubjectKeys, type WrappedKeyRow } from '../gallery/subject-keys.js';
import { IndexSnapshots } from '../gallery/index-snapshot.js';
import { migrate } from '../gallery/schema.js';
import type { TemplateCipher } from '../gallery/template-cipher.js';
import { canonicalJson } from '../governance/audit-chain.js';
import { AuditWitness, type WitnessOptions } from '../governance/audit-checkpoint.js';
import type { Caller } from '../governance/api-keys.js';
import { NO_ATTRIBUTE_INFERENCE } from '../governance/policy/packs/default.js';
import { DEFAULT_RETENTION_DAYS, requireConsent, retentionLimit, retentionSchedule } from '../governance/consent-retention.js';
import { useCase } from '../governance/use-cases.js';
import { erasureDue } from '../governance/erasure-due.js';
import { parseOptionalInstant } from '../governance/instants.js';
import { galleryEligibility, notCovered, PURPOSE_RULE, subjectCoverage } from '../governance/purpose-scope.js';
import { ConsentExpiryTimer } from './consent-expiry.js';
import type { CandidateList } from '../governance/candidate-list.js';
import { AccessService } from './access-service.js';
import { PeopleService } from './people-service.js';
import { ReviewService } from './review-service.js';
import { TestingService } from './testing-service.js';
import { PersonnelService } from './personnel-service.js';
import { checkSubjectRef } from '../gallery/subject-ref.js';
import { DEFAULT_AUTH_THROTTLE, type AuthThrottleOptions } from './auth-throttle.js';
import { DEFAULT_WEBHOOK_OPTIONS, WebhookService, type WebhookOptions } from './webhooks.js';
import { AccountabilityReport } from './accountability-report.js';
import { ComplianceService } from './compliance-service.js';
import { DisclosureService } from './disclosure-service.js';
import { PersonnelReviewers, type ReviewerDirectory } from './reviewer-identity.js';
import { PROBITY_VERSION } from '../version.js';
import { ForeignResource, Governor, type AccessTarget, type Clearance, type Operation, type PurposeInput } from './governor.js';
import { calibrationReference, loadCalibration, requireMeasuredRate, thresholdFor } from '../matching/calibration.js';
import { MAX_BURST_FRAMES, SAME_FACE_FMR } from '../engine/liveness.js';
import { identificationNote } from '../matching/identification-threshold.js';
import { identificationThresholdAt, operatingPointReport, scoreFmrAt, thresholdAt, type OperatingPointName } from '../matching/operating-point.js';
import { resolveOperatingPoint } from './operating-point.js';
import type { SearchHit } from '../matching/vector-index.js';
import { cosineSimilarity } from '../engine/engine.js';
import { describeFace, extractFace, facePng, IMAGE_REFUSALS, sha256, type ExtractedFace, type ImageInput, type ImageRefusal } from './face-input.js';
import { LivenessGate } from './liveness-gate.js';
import { recordEnrolmentAuthority } from '../governance/enrolment-authority.js';
import { requireGalleryInScope } from '../governance/policy/assess.js';
import { NOT_SOLE_BASIS, requireLawfulBasis } from '../governance/protected-basis.js';
import { DEFAULT_MAX_FACES_PER_IDENTIFY, extractFrame, FACE_SELECTIONS, frameAnswer, frameAudit, type FaceSelection, type FrameSearch } from './frame-faces.js';

export interface ServiceOptions {
  enrolMinQuality: QualityLevel;
  probeMinQuality: QualityLevel;
  /** Default target false match rate for verification. */
  verifyFmr: number;
  /** Default target false positive identification rate for identification. */
  identifyFpir: number;
  maxTopK: number;
  /** The most faces one `faces: "all"` identification searches (the best first); the rest are reported, not searched. */
  maxFacesPerIdentify: number;
  /** Above this many templates a gallery is searched approximately (HNSW). */
  hnswAbove: number;
  /** The latest `probity evaluate` results.json, quoted by the accountability report. */
  evaluationFile?: string;
  /** Review webhooks: where they may go (private networks only if the operator allows) and how they are retried. */
  webhooks: WebhookOptions;
  /** Failed authentications allowed per client address (a burst, then so many a minute). */
  failedAuthentication: AuthThrottleOptions;
  /** The operating point for purposes neither the law nor the use case decides (consequential ones get equal_protection). */
  operatingPoint: OperatingPointName;
  /** Where each gallery's HNSW index is persisted (sealed) between runs; unset, every start rebuilds it. */
  indexDir?: string;
  /** How often persisted indexes with unsaved changes are written again, in ms (also after 10,000 changes, and at close). */
  indexSaveEveryMs?: number;
  /** Hold consequential use for an organisation whose accountability report is past its two-year update (RCW 43.386.020(4)). */
  holdWhenReportOverdue?: boolean;
}

/** Options as given: any subset, webhook options included. */
export type ServiceOptionsInput = Partial<Omit<ServiceOptions, 'webhooks'>> & { webhooks?: Partial<WebhookOptions> };

export const DEFAULT_SERVICE_OPTIONS: ServiceOptions = {
  enrolMinQuality: 'medium',
  probeMinQuality: 'medium',
  verifyFmr: 1e-4,
  identifyFpir: 1e-3,
  maxTopK: 50,
  maxFacesPerIdentify: DEFAULT_MAX_FACES_PER_IDENTIFY,
  hnswAbove: 50_000,
  webhooks: DEFAULT_WEBHOOK_OPTIONS,
  failedAuthentication: DEFAULT_AUTH_THROTTLE,
  operatingPoint: 'average',
};

/** What an identification is asked: the purpose, the gallery, the image, and how to search it. */
export type IdentifyInput = PurposeInput & {
  galleryId: string; probe: ImageInput; topK?: number; fpir?: number; callbackUrl?: string; candidateList?: CandidateList; operatingPoint?: OperatingPointName;
  /** Why this person is searched for (see protected-basis.ts): a protected activity or characteristic is refused (RCW 43.386.080(2)). */
  basis?: string[];
  /** `one` (the default): the best face; `all`: every face, each with its own outcome. */
  faces?: FaceSelection;
};
export type IdentifyAnswer = Awaited<ReturnType<ProbityService['searchFaces']>>;

export interface Page<T> {
  items: T[];
  /** Pass as `after` for the next page; absent on the last page. */
  next?: string;
}

type GalleryRow = { id: string; organisation_id: string; name: string; version: number; created_at: string; retention_days: number; purpose_ends_at: string | null; keep_reference_faces: number; purposes: string };
const GALLERY_COLUMNS = 'id, organisation_id, name, version, created_at, retention_days, purpose_ends_at, keep_reference_faces, purposes';

export interface StoredResponse {
  status: number;
  body: unknown;
  /** True when this answer is the stored one for a repeated Idempotency-Key. */
  replayed: boolean;
}

/**
 * The one place every operation passes through, whatever the entry point (HTTP, CLI, library):
 * it checks the caller's role, runs the work, and appends the audit entry in the same
 * transaction as the work's own writes.
 */
export class ProbityService {
  readonly search: GallerySearch;
  readonly access: AccessService;
  readonly reviews: ReviewService;
  readonly webhooks: WebhookService;
  readonly people: PeopleService;
  readonly testing: TestingService;
  readonly personnel: PersonnelService;
  /** Console sign-in through an organisation's identity provider (OpenID Connect). */
  readonly signIn: SignInService;
  readonly report: AccountabilityReport;
  readonly compliance: ComplianceService;
  readonly disclosures: DisclosureService;
  /** Who reviewers are and their training (the review module's directory, once merged: see reviewer-identity.ts). */
  reviewerDirectory: ReviewerDirectory = new PersonnelReviewers(() => this.now());
  private readonly gov: Governor;
  private readonly expiry: ConsentExpiryTimer;
  private readonly liveness: LivenessGate;
  private readonly indexTimer?: NodeJS.Timeout;
  private constructor(
    readonly db: Db,
    readonly engine: FaceEngine,
    readonly keys: SubjectKeys,
    readonly options: ServiceOptions,
    private readonly now: () => Date,
    witness?: WitnessOptions,
    private readonly ledger?: ErasureLedger,
    safeguards?: SafeguardLedger,
  ) {
    this.search = new GallerySearch(db, keys, 512, {
      hnswAbove: options.hnswAbove,
      ...(options.indexDir ? { snapshots: new IndexSnapshots(options.indexDir, db, keys, engine.modelId), report: (line: string) => process.stderr.write(`${line}\n`) } : {}),
    });
    if (options.indexDir) this.indexTimer = setInterval(() => void this.search.persist(), options.indexSaveEveryMs ?? 600_000).unref();
    this.gov = new Governor(db, now, witness ? new AuditWitness(db, witness, now) : undefined, safeguards);
    this.liveness = new LivenessGate(this.gov);
    this.access = new AccessService(db, this.gov, options.failedAuthentication);
    this.webhooks = new WebhookService(db, this.gov, keys, options.webhooks);
    this.reviews = new ReviewService(db, this.gov, keys, this.webhooks);
    this.testing = new TestingService(engine, this.gov);
    this.personnel = new PersonnelService(db, this.gov);
    this.signIn = new SignInService(db, this.gov);
    this.compliance = new ComplianceService(db, this.gov);
    if (options.holdWhenReportOverdue) this.gov.statementsGate = async (org) => (await this.compliance.current(db, org)).overdue;
    this.disclosures = new DisclosureService(db, this.gov, () => this.reviewerDirectory, () => calibrationReference(this.calibration()));
    // The report reads reviewers through the service's directory, whichever is set (see reviewer-identity.ts).
    const reviewers: ReviewerDirectory = { describe: (q, k) => this.reviewerDirectory.describe(q, k), trainingCounts: (q, o) => this.reviewerDirectory.trainingCounts(q, o) };
    this.report = new AccountabilityReport(db, this.gov, engine, PROBITY_VERSION, options.evaluationFile, { operatingPoint: options.operatingPoint, fmr: options.verifyFmr, identifyFpir: options.identifyFpir }, reviewers);
    this.people = new PeopleService(db, this.gov, (q, c, g) => this.ownGallery(q, c, g), (g) => this.refreshIndex(g), () => this.expiry.schedule(), ledger);
    this.expiry = new ConsentExpiryTimer(now, (t) => this.people.nextConsentExpiry(t), () => this.people.purge(this.now(), 'consent'));
  }

  /** Who holds this key; every entry point starts here. */
  authenticate(secret: string | undefined): Promise<Caller> {
    return this.access.authenticate(secret);
  }

  /**
   * `cipher` is the installation key; `keys` a key ring instead (serve's, which re-reads the key
   * file after a rotation). `erasureLedger` is the file a restore replays (see erasure-ledger.ts).
   * `witness`: the audit log's checkpoint signing (key, witness file or URL, interval).
   */
  static async open(deps: { db: Db; engine: FaceEngine; cipher?: TemplateCipher; keys?: KeyRing; erasureLedger?: ErasureLedger; safeguardLedger?: SafeguardLedger; options?: ServiceOptionsInput; now?: () => Date; witness?: WitnessOptions }): Promise<ProbityService> {
    await migrate(deps.db);
    const ring = deps.keys ?? (deps.cipher ? new KeyRing([deps.cipher]) : undefined);
    if (!ring) throw new ProbityError('invalid_argument', 'the service needs the installation key (cipher or keys)');
    // The installation key's fingerprint, recorded at the first start even before anything is sealed
    // under it: `probity keys recover` proves the holder's key against it (issue 22). Never changed
    // here once set; a rotation changes it.
    await deps.db.run(`INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, [INSTALLATION_KEY_META, ring.current().id]);
    const options = { ...DEFAULT_SERVICE_OPTIONS, ...deps.options, webhooks: { ...DEFAULT_WEBHOOK_OPTIONS, ...deps.options?.webhooks } };
    // The safeguard ledger lives beside the erasure ledger, in the data folder: a service given one keeps both.
    const safeguards = deps.safeguardLedger ?? (deps.erasureLedger ? new SafeguardLedger(join(dirname(deps.erasureLedger.path), 'safeguards.log')) : undefined);
    // The witness signs the ledgers' heads in each checkpoint (a restore checks them against it), unless told otherwise.
    const erasures = deps.erasureLedger;
    const witness = deps.witness && !deps.witness.ledgers && (erasures || safeguards)
      ? { ...deps.witness, ledgers: () => ({ ...(erasures ? { erasures: erasures.head() } : {}), ...(safeguards ? { safeguards: safeguards.head() } : {}) }) }
      : deps.witness;
    const service = new ProbityService(deps.db, deps.engine, new SubjectKeys(ring, deps.erasureLedger?.escrow), options, deps.now ?? (() => new Date()), witness, deps.erasureLedger, safeguards);
    service.expiry.schedule();
    service.witness?.start();
    return service;
  }

  /** The audit log's checkpoint signer, when the service has a signing key. */
  get witness(): AuditWitness | undefined {
    return this.gov.witness;
  }

  // ---- galleries ---------------------------------------------------------------------------

  /**
   * The caller's own gallery, or a refusal that says why: another organisation's, or one serving
   * no purpose the key is scoped to (an auditor reads any of its organisation's galleries' metadata).
   */
  private async ownGallery(q: Queryable, caller: Caller, galleryId: string, op?: Operation): Promise<GalleryRow> {
    const g = await q.one<GalleryRow>(`SELECT ${GALLERY_COLUMNS} FROM galleries WHERE id = $1`, [galleryId]);
    if (!g) {
      this.search.forget(galleryId);
      throw new ProbityError('not_found', `no gallery ${galleryId}`);
    }
    if (g.organisation_id !== caller.organisationId) throw new ForeignResource(`gallery ${galleryId}`);
    // A biometric request's purpose was checked against the key (clear) and is checked against the gallery's declaration next.
    const purposeChecked = op === 'enrol' || op === 'verify' || op === 'identify';
    if (!purposeChecked && !(op === 'read_gallery' && caller.roles.includes('auditor'))) requireGalleryInScope(g, caller.useCases);
    return { ...g, version: Number(g.version) };
  }

  /**
   * `ownGallery` for an operation outside a transaction: the role first, then the gallery, each
   * refusal logged, so that reaching for another organisation's gallery leaves a trace.
   */
  private async galleryFor(caller: Caller, op: Operation, galleryId: string): Promise<GalleryRow> {
    await this.gov.requireAccess(caller, op);
    try {
      return await this.ownGallery(this.db, caller, galleryId, op);
    } catch (e) {
      await this.gov.recordRefusal(caller, op, { galleryId }, e);
      throw e;
    }
  }

  /** Whose a gallery is, for the Governor to refuse (and log) a request for another organisation's. */
  private async galleryTarget(galleryId: string | undefined): Promise<AccessTarget> {
    const g = galleryId ? await this.db.one<{ organisation_id: string }>(`SELECT organisation_id FROM galleries WHERE id = $1`, [galleryId]) : undefined;
    if (!galleryId) return {};
    return g ? { organisationId: g.organisation_id, resource: `gallery ${galleryId}` } : { resource: `gallery ${galleryId}`, resourceMissing: true };
  }

  /** The gallery the Governor cleared for a biometric request (its owner and declared purpose checked). */
  private clearedGallery(clearance: Clearance): GalleryRow {
    const g = clearance.gallery as unknown as GalleryRow;
    return { ...g, version: Number(g.version) };
  }

  private async galleryView(g: GalleryRow) {
    const counts = await this.db.one<{ subjects: number; templates: number }>(
      `SELECT (SELECT COUNT(*) FROM subjects WHERE gallery_id = $1) AS subjects, (SELECT COUNT(*) FROM templates WHERE gallery_id = $1) AS templates`,
      [g.id],
    );
    return {
      id: g.id, name: g.name, createdAt: g.created_at, subjects: Number(counts?.subjects ?? 0), templates: Number(counts?.templates ?? 0),
      retention: retentionSchedule(Number(g.retention_days), g.purpose_ends_at), keepReferenceFaces: Boolean(Number(g.keep_reference_faces)),
      purposes: g.purposes.split(',').filter(Boolean),
    };
  }

  /**
   * A gallery with its published retention schedule: templates are erased `retentionDays` after
   * the subject's last interaction, and all of them when the purpose ends (`purposeEndsAt`).
   */
  async createGallery(caller: Caller, input: { name: string; retentionDays?: number; purposeEndsAt?: string; keepReferenceFaces?: boolean; purposes?: string[]; basis?: string[] }) {
    const retentionDays = input.retentionDays ?? DEFAULT_RETENTION_DAYS;
    const purposeEndsAt = parseOptionalInstant('purposeEndsAt', input.purposeEndsAt) ?? null;
    // The purposes a gallery serves are declared when it is made: by default those its creating key may name.
    const purposes = [...new Set(input.purposes ?? caller.useCases)];
    const limit = retentionLimit(await this.gov.activePacks());
    if (limit && retentionDays > limit.days) {
      throw new ProbityError('policy_refused', `a retention of ${retentionDays} days exceeds the ${limit.days} days allowed (${limit.rule.rule}: ${limit.rule.citation})`, limit.rule);
    }
    return this.gov.run(caller, 'create_gallery', {}, async (tx) => {
      // Who a gallery holds, and why: never on a protected activity or characteristic (refused here, so the refusal is logged).
      const basis = requireLawfulBasis('basis', input.basis);
      const unknown = purposes.filter((p) => !useCase(p));
      if (unknown.length) throw new ProbityError('invalid_request', `purposes: unknown use case(s) ${unknown.join(', ')}; see GET /v1/policy`);
      if (purposes.length === 0) throw new ProbityError('invalid_request', 'purposes: a gallery must declare the use cases it serves (this key names none)');
      const id = randomUUID();
      const at = this.now().toISOString();
      try {
        await tx.run(
          `INSERT INTO galleries (id, organisation_id, name, created_at, retention_days, purpose_ends_at, keep_reference_faces, purposes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
          [id, caller.organisationId, input.name, at, retentionDays, purposeEndsAt, input.keepReferenceFaces ? 1 : 0, purposes.join(',')],
        );
      } catch (e) {
        if (this.db.isUniqueViolation(e)) throw new ProbityError('conflict', `this organisation has a gallery named "${input.name}" already`);
        throw e;
      }
      return {
        value: { id, name: input.name, createdAt: at, subjects: 0, templates: 0, retention: retentionSchedule(retentionDays, purposeEndsAt), keepReferenceFaces: Boolean(input.keepReferenceFaces), purposes },
        result: { galleryCreated: id, retentionDays, keepReferenceFaces: Boolean(input.keepReferenceFaces), purposes, ...(basis.length ? { basis } : {}) },
      };
    }, { target: { purposes } }); // a gallery declares only purposes its key and organisation may use
  }

  async listGalleries(caller: Caller, page: { limit: number; after?: string }): Promise<Page<Awaited<ReturnType<ProbityService['galleryView']>>>> {
    this.gov.authorise(caller, 'list_galleries');
    // As for one gallery: a key lists the galleries serving a purpose it is scoped to; an auditor, all of its organisation's.
    const scoped = !caller.roles.includes('auditor');
    const like = caller.useCases.map((u) => `%,${u.replace(/[!%_]/g, (ch) => `!${ch}`)},%`);
    const inScope = !scoped ? '' : like.length ? ` AND (${like.map((_, i) => `(',' || purposes || ',') LIKE $${i + 4} ESCAPE '!'`).join(' OR ')})` : ' AND 1 = 0';
    const rows = await this.db.all<GalleryRow>(
      `SELECT ${GALLERY_COLUMNS} FROM galleries WHERE organisation_id = $1 AND name > $2${inScope} ORDER BY name LIMIT $3`,
      [caller.organisationId, page.after ?? '', page.limit + 1, ...(scoped ? like : [])],
    );
    const items = await Promise.all(rows.slice(0, page.limit).map((g) => this.galleryView(g)));
    return { items, ...(rows.length > page.limit ? { next: items[items.length - 1]!.name } : {}) };
  }

  async getGallery(caller: Caller, galleryId: string) {
    return this.galleryView(await this.galleryFor(caller, 'read_gallery', galleryId));
  }

  async deleteGallery(caller: Caller, galleryId: string) {
    const result = await this.gov.run(caller, 'delete_gallery', { galleryId }, async (tx) => {
      const g = await this.ownGallery(tx, caller, galleryId);
      const templates = Number((await tx.one<{ n: number }>(`SELECT COUNT(*) AS n FROM templates WHERE gallery_id = $1`, [g.id]))?.n ?? 0);
      const subjects = Number((await tx.one<{ n: number }>(`SELECT COUNT(*) AS n FROM subjects WHERE gallery_id = $1`, [g.id]))?.n ?? 0);
      await eraseGalleryRows(tx, g.id, this.ledger);
      return { value: { gallery: g.id, subjectsErased: subjects, templatesErased: templates, erasedAt: this.now().toISOString() }, result: { subjectsErased: subjects, templatesErased: templates } };
    });
    this.search.forget(galleryId);
    await this.db.scrub();
    return result;
  }

  // ---- subjects ----------------------------------------------------------------------------

  async listSubjects(caller: Caller, galleryId: string, page: { limit: number; after?: string; prefix?: string }) {
    const g = await this.galleryFor(caller, 'list_subjects', galleryId);
    // A prefix search is a range on the ordered reference, so it uses the (gallery, ref) index.
    const from = page.after && page.after > (page.prefix ?? '') ? page.after : (page.prefix ?? '');
    const rows = await this.db.all<{ ref: string; created_at: string; last_interaction_at: string; enrolment_purpose: string; templates: number }>(
      `SELECT s.ref, s.created_at, s.last_interaction_at, s.enrolment_purpose, (SELECT COUNT(*) FROM templates t WHERE t.subject_id = s.id) AS templates
         FROM subjects s WHERE s.gallery_id = $1 AND s.ref ${page.after ? '>' : '>='} $2 AND s.ref < $3 ORDER BY s.ref LIMIT $4`,
      [galleryId, from, page.prefix ? `${page.prefix}\uffff` : '\uffff', page.limit + 1],
    );
    const shown = rows.slice(0, page.limit);
    // The first of consent's end, retention's end and the purpose's end, as the access report gives it.
    const consents = shown.length ? await this.db.all<{ subject_ref: string; purposes: string; given_at: string; expires_at: string | null; withdrawn_at: string | null }>(
      `SELECT subject_ref, purposes, given_at, expires_at, withdrawn_at FROM consents WHERE gallery_id = $1 AND subject_ref >= $2 AND subject_ref <= $3`, [galleryId, shown[0]!.ref, shown[shown.length - 1]!.ref],
    ) : [];
    const limitDays = retentionLimit(await this.gov.activePacks())?.days;
    const items = shown.map((r) => ({
      subject: r.ref, createdAt: r.created_at, templates: Number(r.templates),
      erasureDueBy: erasureDue(r, g, consents.filter((c) => c.subject_ref === r.ref), this.now(), limitDays).at,
    }));
    return { items, ...(rows.length > page.limit ? { next: items[items.length - 1]!.subject } : {}) };
  }

  async getSubject(caller: Caller, galleryId: string, ref: string) {
    await this.galleryFor(caller, 'read_subject', galleryId);
    const s = await this.db.one<{ id: string; created_at: string }>(`SELECT id, created_at FROM subjects WHERE gallery_id = $1 AND ref = $2`, [galleryId, ref]);
    if (!s) throw new ProbityError('not_found', `no subject "${ref}" in gallery ${galleryId}`);
    const templates = await this.db.all<{ uuid: string; model: string; quality: string; created_at: string }>(
      `SELECT uuid, model, quality, created_at FROM templates WHERE subject_id = $1 ORDER BY id`, [s.id],
    );
    return {
      subject: ref, gallery: galleryId, createdAt: s.created_at,
      templates: templates.map((t) => ({ id: t.uuid, model: t.model, quality: t.quality, createdAt: t.created_at })),
    };
  }

  /**
   * Enrols faces of one subject (created on first enrolment): from each image, the person in the
   * photograph (see `subjectFace`), which must be of enough quality. All or nothing by default:
   * an image that cannot be used refuses the request and nothing is stored. With `skipUnusable`
   * (what `probity import` asks for), each usable image is enrolled and each other one is listed
   * in the answer's `refused` with its code and reason; the request is refused only when no image
   * can be used. With an idempotency key, a repeat of the same request gets the first answer back
   * and enrols nothing more. Every photograph must be of the subject: matched, at the verification
   * threshold of the purpose's operating point, with the subject's templates already held and the
   * request's other photographs (enrolment-consistency.ts); a mismatch is refused (or, with
   * `skipUnusable`, listed in `refused`) and logged. `replaceTemplates` erases the subject's
   * templates and enrols the new photographs in their place, in one audited step: for a person
   * whose appearance really changed. Consent (or authority) is required as for any enrolment.
   */
  async enrol(caller: Caller, input: PurposeInput & { galleryId: string; subject: string; images: ImageInput[]; idempotencyKey?: string; liveness?: LivenessRequest; skipUnusable?: boolean; replaceTemplates?: boolean }): Promise<StoredResponse> {
    checkSubjectRef(input.subject);
    if (input.images.length === 0) throw new ProbityError('invalid_request', 'enrolment needs at least one image');
    checkLivenessFrames(input.liveness);
    const imageHashes = input.images.map((i) => sha256(i.bytes));
    const livenessKey = Array.isArray(input.liveness) ? { liveness: input.liveness.map((f) => sha256(f.bytes)) } : input.liveness ? { liveness: true } : {};
    const requestHash = sha256(Buffer.from(canonicalJson({ op: 'enrol', purpose: input.purpose, gallery: input.galleryId, subject: input.subject, images: imageHashes, ...livenessKey, ...(input.skipUnusable ? { skipUnusable: true } : {}), ...(input.replaceTemplates ? { replaceTemplates: true } : {}) })));
    const audit = { galleryId: input.galleryId, subject: input.subject, inputHashes: imageHashes };
    // One clearance for the request and the gallery it names (owner, declared purpose).
    const clearance = await this.gov.clear(caller, 'enrol', audit, input, { galleryId: input.galleryId });
    const gallery = this.clearedGallery(clearance);
    await this.refuseUnless(caller, 'enrol', { ...audit, purpose: input.purpose }, () => requireGalleryModel(this.db, gallery.id, this.engine.templateKind, this.engine.pipelineVersion));
    const needsConsent = useCase(input.purpose)?.enrolmentBasis === 'consent';
    if (needsConsent) {
      // Checked before any face is processed, and again in the transaction (a withdrawal may race it).
      await requireConsent(this.db, input.galleryId, input.subject, input.purpose, this.now()).catch(async (e) => {
        await this.gov.recordRefusal(caller, 'enrol', { ...audit, purpose: input.purpose }, e);
        throw e;
      });
    }
    if (input.idempotencyKey) {
      const earlier = await this.storedResponse(caller, input.idempotencyKey, requestHash);
      if (earlier) return earlier;
    }
    const faces: ExtractedFace[] = [];
    const used: ImageInput[] = [];
    const refused: ImageRefusal[] = [];
    for (const image of input.images) {
      try {
        faces.push(await extractFace(this.engine, image, { minQuality: this.options.enrolMinQuality, choose: 'subject' }));
        used.push(image);
      } catch (e) {
        if (!input.skipUnusable || !isProbityError(e) || !IMAGE_REFUSALS.has(e.code)) throw e;
        refused.push({ label: image.label, code: e.code, message: e.message });
      }
    }
    if (faces.length === 0) {
      // Only with skipUnusable and every image refused: one error, naming each image and why.
      throw new ProbityError(refused[0]!.code, refused.length === 1 ? refused[0]!.message : `no image could be used: ${refused.map((r) => r.message).join('; ')}`);
    }
    const livenessRule = this.liveness.requirement(clearance, input.liveness !== undefined && input.liveness !== false);
    // Further frames are of the same capture as the first image, and fused with it.
    const burst = livenessRule ? await this.livenessFrames(input.liveness) : [];
    const liveness = livenessRule
      ? await this.liveness.check(caller, 'enrol', { ...audit, purpose: input.purpose }, livenessRule, faces.map((f, i) => ({
        input: used[i]!, box: f.face.box, template: f.template, ...(i === 0 && burst.length ? { frames: burst } : {}),
      })), burst.length ? this.sameFaceThreshold() : undefined)
      : undefined;
    // The threshold a verification for this purpose would use: a photograph that would not verify as
    // the subject is not enrolled as them. Read only when there is something to compare (a table
    // this engine may not use is then a refusal, logged: a person who cannot be checked is not added to).
    const samePersonAt = () => {
      const point = resolveOperatingPoint(this.calibration(), clearance, undefined, this.options.operatingPoint);
      return { threshold: thresholdAt(this.calibration(), point.name, this.options.verifyFmr), point: point.name };
    };
    // A gallery may keep each enrolled face (aligned, sealed) for reviewers to compare; by default it keeps none.
    const facePngs = Number(gallery.keep_reference_faces) ? await Promise.all(faces.map((f) => facePng(f.face.aligned))) : undefined;
    let body: unknown;
    try {
      body = await this.gov.run(caller, 'enrol', liveness ? { ...audit, liveness } : audit, async (tx) => {
        const g = await this.ownGallery(tx, caller, input.galleryId, 'enrol');
        await requireGalleryModel(tx, g.id, this.engine.templateKind, this.engine.pipelineVersion);
        const at = this.now().toISOString();
        if (needsConsent) await requireConsent(tx, g.id, input.subject, input.purpose, this.now());
        await tx.run(
          `INSERT INTO subjects (id, gallery_id, ref, created_at, last_interaction_at, enrolment_purpose) VALUES ($1, $2, $3, $4, $4, $5)
           ON CONFLICT (gallery_id, ref) DO UPDATE SET last_interaction_at = $4`,
          [randomUUID(), g.id, input.subject, at, input.purpose],
        );
        const subject = (await tx.one<{ id: string }>(`SELECT id FROM subjects WHERE gallery_id = $1 AND ref = $2`, [g.id, input.subject]))!;
        // The Governor refused a legal-authority enrolment without a valid authority; what it rests on is kept with the subject.
        if (!needsConsent && clearance.authority) await recordEnrolmentAuthority(tx, subject.id, clearance.authority, at);
        // One subject, one person, checked here, in the transaction, after the subject's row is locked: two enrolments racing
        // into one subject are judged one after the other, each against what the other stored.
        let replaced = 0;
        let held: Float32Array[] = [];
        const rows = await tx.all<{ uuid: string; sealed: Buffer } & WrappedKeyRow>(`SELECT t.uuid, t.sealed, ${KEY_COLUMNS} FROM templates t ${KEY_JOIN} WHERE t.subject_id = $1`, [subject.id]);
        held = this.keys.session((open) => rows.map((r) => asFloats(open(r.sealed, r.uuid, r))));
        if (input.replaceTemplates) {
          // A changed appearance is still the person whose consent this is: the replacement must
          // match what it replaces at the verification threshold, or anyone's face could be put
          // under the subject's consent (fifth outside test); a looser threshold (FMR 1e-2) let one
          // unrelated face in a hundred through, and verify at that FMR found it (sixth outside test).
          if (held.length) {
            const strict = samePersonAt();
            const changed = samePersonCheck(held, faces.map((f, i) => ({ label: used[i]!.label, vector: f.template.vector })), strict.threshold);
            if (changed.mismatched.length) throw replacementMismatchError(input.subject, held.length, changed.mismatched, strict.threshold, strict.point);
          }
          replaced = await removeSubjectTemplates(tx, g.id, subject.id);
          // An earlier enrolment's stored answer names the templates replaced: a replay of it is a new request (sixth outside test).
          await eraseStoredAnswers(tx, g.id, input.subject);
          held = [];
        }
        const samePerson = held.length || faces.length > 1 ? samePersonAt() : undefined;
        const check = samePerson
          ? samePersonCheck(held, faces.map((f, i) => ({ label: used[i]!.label, vector: f.template.vector })), samePerson.threshold)
          : { accepted: [0], mismatched: [] };
        const refusedHere = [...refused];
        if (samePerson && check.mismatched.length) {
          if (!input.skipUnusable || check.accepted.length === 0) throw mismatchError(input.subject, held.length, check.mismatched, samePerson.threshold, samePerson.point);
          for (const m of check.mismatched) {
            refusedHere.push({ label: m.label, code: 'subject_mismatch', message: mismatchError(input.subject, held.length, [m], samePerson.threshold, samePerson.point, false).message });
          }
        }
        // Sealed under the subject's own data key, so that erasing the key erases every copy.
        const dataKey = await this.keys.forEnrolment(tx, this.db.kind, subject.id);
        const templates = [];
        try {
          for (const [i, f] of faces.entries()) {
            if (!check.accepted.includes(i)) continue;
            const uuid = randomUUID();
            await insertTemplate(tx, {
              uuid, galleryId: g.id, subjectId: subject.id, model: this.engine.templateKind, pipeline: this.engine.pipelineVersion, sealed: dataKey.seal(f.template.vector, uuid), quality: f.face.quality.level, at,
              ...(facePngs ? { faceSealed: dataKey.sealBytes(facePngs[i]!, `face:${uuid}`) } : {}),
            });
            templates.push({ id: uuid, ...describeFace(f) });
          }
        } finally {
          dataKey.destroy();
        }
        return {
          value: { gallery: g.id, subject: input.subject, templates, ...(input.skipUnusable ? { refused: refusedHere } : {}), ...(input.replaceTemplates ? { templatesReplaced: replaced } : {}), ...(liveness ? { liveness } : {}) },
          result: {
            templatesAdded: templates.length, ...(refusedHere.length ? { imagesRefused: refusedHere.length } : {}),
            // Which photographs (by position; their hashes are in inputHashes) were not of the subject, and the rule.
            ...(check.mismatched.length ? { imagesMismatched: check.mismatched.map((m) => input.images.indexOf(used[m.index]!)), rule: SAME_PERSON_RULE.rule } : {}),
            ...(input.replaceTemplates ? { templatesReplaced: replaced } : {}),
          },
        };
      }, {
        clearance,
        // In the same transaction: an acknowledged enrolment and its stored answer exist together or not at all.
        finish: async (tx, answer) => {
          if (input.idempotencyKey) await this.storeResponse(tx, caller, input.idempotencyKey, requestHash, 201, answer, { galleryId: input.galleryId, subject: input.subject });
        },
      });
      await this.refreshIndex(input.galleryId);
    } catch (e) {
      // A refusal the transaction found (a withdrawal raced this one) was logged by the Governor.
      // Two identical retries raced; the first stored its answer and the second's writes were rolled back.
      if (input.idempotencyKey && this.db.isUniqueViolation(e)) {
        const earlier = await this.storedResponse(caller, input.idempotencyKey, requestHash);
        if (earlier) return earlier;
      }
      throw e;
    }
    return { status: 201, body, replayed: false };
  }

  private async storedResponse(caller: Caller, key: string, requestHash: string): Promise<StoredResponse | undefined> {
    const row = await this.db.one<{ request_hash: string; status: number; response: string }>(
      `SELECT request_hash, status, response FROM idempotency WHERE api_key_id = $1 AND idem_key = $2`, [caller.keyId, key],
    );
    if (!row) return undefined;
    if (row.request_hash !== requestHash) {
      throw new ProbityError('idempotency_key_reused', `Idempotency-Key "${key}" was used before for a different request`);
    }
    return { status: Number(row.status), body: JSON.parse(row.response), replayed: true };
  }

  /** `about`: whom the answer concerns, so that their erasure deletes it (erasure-mentions.ts). */
  private async storeResponse(tx: Queryable, caller: Caller, key: string, requestHash: string, status: number, body: unknown, about: { galleryId: string; subject: string }): Promise<void> {
    await tx.run(
      `INSERT INTO idempotency (api_key_id, idem_key, request_hash, status, response, created_at, gallery_id, subject_ref) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [caller.keyId, key, requestHash, status, JSON.stringify(body), this.now().toISOString(), about.galleryId, about.subject],
    );
  }

  /** Builds every gallery's index from storage, so that the first searches do not wait for it. */
  async loadIndexes(): Promise<number> {
    const galleries = await this.db.all<{ id: string; version: number }>(`SELECT id, version FROM galleries`);
    for (const g of galleries) await this.search.catchUp(g.id, Number(g.version));
    return galleries.length;
  }

  /** Brings this process's index of a gallery up to what storage holds now. */
  private async refreshIndex(galleryId: string) {
    const g = await this.db.one<{ version: number }>(`SELECT version FROM galleries WHERE id = $1`, [galleryId]);
    if (!g) {
      this.search.forget(galleryId);
      throw new ProbityError('not_found', `no gallery ${galleryId}`);
    }
    return this.search.catchUp(galleryId, Number(g.version));
  }

  /**
   * Erasure: the subject's templates leave storage and every index in one step, with a receipt.
   * Indexes in other processes replay the removal before their next search.
   */
  async eraseSubject(caller: Caller, galleryId: string, ref: string) {
    const receipt = await this.gov.run(caller, 'erase_subject', { galleryId, subject: ref }, async (tx) => {
      const g = await this.ownGallery(tx, caller, galleryId);
      const erased = await eraseSubjectRows(tx, g.id, ref, this.ledger);
      // Erased at their request: their consent ends with it, so nobody re-enrols them without asking again.
      const consentsEnded = await this.people.endConsents(tx, g.id, ref);
      if (erased === undefined && consentsEnded === 0) throw new ProbityError('not_found', `no subject "${ref}" in gallery ${galleryId}`);
      const erasedAt = this.now().toISOString();
      // Every claim the receipt makes is in its audit entry too, so `probity audit prove` can check each one.
      const receipt = randomUUID();
      return {
        value: { receipt, gallery: g.id, subject: ref, templatesErased: erased ?? 0, consentsEnded, erasedAt },
        result: { receipt, templatesErased: erased ?? 0, consentsEnded, erasedAt },
      };
    });
    await this.refreshIndex(galleryId);
    await this.db.scrub();
    return this.gov.withAuditProof(receipt);
  }

  // ---- decisions ---------------------------------------------------------------------------

  /** The further frames of a liveness burst, each with the face ranked first in it and its template. */
  private async livenessFrames(request: LivenessRequest | undefined): Promise<{ input: ImageInput; box: Box; template: Template }[]> {
    if (!Array.isArray(request)) return [];
    const frames = [];
    for (const input of request) {
      const f = await extractFace(this.engine, input, { minQuality: this.options.probeMinQuality, choose: 'best' });
      frames.push({ input, box: f.face.box, template: f.template });
    }
    return frames;
  }

  /** Two frames of one burst are of one face when they match at SAME_FACE_FMR on the table in use. */
  private sameFaceThreshold(): number {
    return thresholdFor(this.calibration(), SAME_FACE_FMR);
  }

  private calibration() {
    return loadCalibration(this.engine.modelId, this.engine.config.flipAverage);
  }

  private decisionFor(score: number, threshold: number, point: OperatingPointName = 'average') {
    return { score: round(score), threshold: round(threshold), match: score >= threshold, scoreFmr: scoreFmrAt(this.calibration(), point, score) };
  }

  /** The operating point a cleared request gets (law, purpose, request, operator), a refusal logged. */
  private async operatingPoint(caller: Caller, op: 'verify' | 'identify', audit: Parameters<Governor['recordRefusal']>[2], clearance: Awaited<ReturnType<Governor['clear']>>, requested?: OperatingPointName) {
    try {
      return resolveOperatingPoint(this.calibration(), clearance, requested, this.options.operatingPoint);
    } catch (e) {
      await this.gov.recordRefusal(caller, op, { ...audit, ...(clearance.purpose ? { purpose: clearance.purpose } : {}) }, e);
      throw e;
    }
  }

  /** Runs a check after clearance; a refusal it throws is logged like the Governor's own. */
  private async refuseUnless(caller: Caller, op: 'enrol' | 'verify' | 'identify', audit: Record<string, unknown>, check: () => void | Promise<void>): Promise<void> {
    try {
      await check();
    } catch (e) {
      await this.gov.recordRefusal(caller, op, audit, e);
      throw e;
    }
  }

  /**
   * One image against another, or against an enrolled subject's templates (the best of them) and
   * nothing else: a request naming a subject may not bring its own reference image. The subject's
   * enrolment basis must cover the purpose at this instant, and the audit entry says exactly what
   * the probe was compared with.
   */
  async verify(caller: Caller, input: PurposeInput & { probe: ImageInput; reference?: ImageInput; galleryId?: string; subject?: string; fmr?: number; operatingPoint?: OperatingPointName; liveness?: LivenessRequest }) {
    checkLivenessFrames(input.liveness);
    if (input.reference && (input.galleryId !== undefined || input.subject !== undefined)) {
      throw new ProbityError('invalid_request', 'verify compares the image with either a second image ("reference") or an enrolled subject ("galleryId" and "subject"), never both');
    }
    if (!input.reference && !(input.galleryId && input.subject)) {
      throw new ProbityError('invalid_request', 'verify needs a second image ("reference"), or a gallery and subject ("galleryId" and "subject") to compare against');
    }
    const inputs = [input.probe, ...(input.reference ? [input.reference] : [])];
    const audit = {
      ...(input.galleryId ? { galleryId: input.galleryId } : {}), ...(input.subject ? { subject: input.subject } : {}),
      inputHashes: inputs.map((i) => sha256(i.bytes)),
    };
    // Two supplied photographs are a capability of their own, which few use cases grant (compare_images).
    const clearance = await this.gov.clear(caller, 'verify', audit, input, input.reference ? { comparesSuppliedImages: true } : { galleryId: input.galleryId! });
    const fmr = input.fmr ?? this.options.verifyFmr;
    const point = await this.operatingPoint(caller, 'verify', audit, clearance, input.operatingPoint);
    const threshold = thresholdAt(this.calibration(), point.name, fmr);
    let references: Float32Array[];
    let referenceFace: ReturnType<typeof describeFace> | undefined;
    let referenceNote: string | undefined;
    let comparedWith: { kind: 'image'; inputHash: string } | { kind: 'subject'; gallery: string; subject: string; templates: number };
    if (input.reference) {
      const ref = await extractFace(this.engine, input.reference, { minQuality: this.options.probeMinQuality, choose: 'subject' });
      references = [ref.template.vector];
      referenceFace = describeFace(ref);
      referenceNote = ref.note;
      comparedWith = { kind: 'image', inputHash: audit.inputHashes[1]! };
    } else {
      const g = this.clearedGallery(clearance);
      const refusal = { ...audit, purpose: input.purpose };
      await this.refuseUnless(caller, 'verify', refusal, async () => {
        await requireGalleryModel(this.db, g.id, this.engine.templateKind, this.engine.pipelineVersion);
        const c = await subjectCoverage(this.db, g.id, input.subject!, input.purpose, this.now());
        if (!c || c.covered) return;
        // A consent that has ended ends the enrolment with it: erased now, not at the next purge.
        if (c.reason !== 'purpose_not_covered') await this.people.eraseLapsed(g.id, [{ subject: input.subject!, reason: c.reason }]);
        throw notCovered(input.subject!, input.purpose, c);
      });
      const rows = await this.db.all<{ uuid: string; sealed: Buffer } & WrappedKeyRow>(
        `SELECT t.uuid, t.sealed, ${KEY_COLUMNS} FROM templates t JOIN subjects s ON s.id = t.subject_id ${KEY_JOIN} WHERE s.gallery_id = $1 AND s.ref = $2`, [g.id, input.subject!],
      );
      if (rows.length === 0) throw new ProbityError('not_found', `no subject "${input.subject}" in gallery ${g.id}`);
      references = this.keys.session((open) => rows.map((r) => asFloats(open(r.sealed, r.uuid, r))));
      comparedWith = { kind: 'subject', gallery: g.id, subject: input.subject!, templates: rows.length };
    }
    const probe = await extractFace(this.engine, input.probe, { minQuality: this.options.probeMinQuality, choose: 'subject' });
    // Only the probe: it is the face in front of the camera; a reference may be a photograph by design.
    const livenessRule = this.liveness.requirement(clearance, input.liveness !== undefined && input.liveness !== false);
    // Further frames are of the probe's capture: each must show the probe's face, and they are fused with it.
    const burst = livenessRule ? await this.livenessFrames(input.liveness) : [];
    const liveness = livenessRule
      ? await this.liveness.check(caller, 'verify', { ...audit, purpose: input.purpose }, livenessRule, [{ input: input.probe, box: probe.face.box, template: probe.template, ...(burst.length ? { frames: burst } : {}) }], burst.length ? this.sameFaceThreshold() : undefined)
      : undefined;
    const score = Math.max(...references.map((v) => cosineSimilarity(probe.template, { model: probe.template.model, vector: v })));
    const decision = this.decisionFor(score, threshold, point.name);
    const answer = {
      ...decision, fmr, model: this.engine.modelId, operatingPoint: operatingPointReport(this.calibration(), point.name, fmr, point.reason), review: { state: 'not_required' as const },
      faces: [describeFace(probe), ...(referenceFace ? [referenceFace] : [])],
      ...(input.subject ? { gallery: input.galleryId, subject: input.subject } : {}),
      comparedWith,
      notes: [probe.note, referenceNote].filter((n): n is string => n !== undefined),
      ...(liveness ? { liveness: liveness[0]! } : {}),
      notice: NOT_SOLE_BASIS,
    };
    return this.gov.run(caller, 'verify', liveness ? { ...audit, liveness } : audit, async (tx) => {
      if (input.subject) {
        // Checked again as the answer is committed: an erasure or a withdrawal that committed
        // while the faces were compared refuses the answer, rather than a match for someone no
        // longer covered. (PostgreSQL: the share lock makes a concurrent erasure wait for this.)
        if (this.db.kind === 'postgres') await tx.one(`SELECT id FROM subjects WHERE gallery_id = $1 AND ref = $2 FOR SHARE`, [input.galleryId!, input.subject]);
        const now = await subjectCoverage(tx, input.galleryId!, input.subject, input.purpose, this.now());
        if (!now) throw new ProbityError('purpose_not_covered', `"${input.subject}" was erased while this verification ran; nothing is answered about them (${PURPOSE_RULE.rule}: ${PURPOSE_RULE.citation})`, PURPOSE_RULE);
        if (!now.covered) throw notCovered(input.subject, input.purpose, now);
      }
      // Verifying against an enrolled subject is their interaction: the retention clock restarts.
      if (input.subject && decision.match) {
        await tx.run(`UPDATE subjects SET last_interaction_at = $1 WHERE gallery_id = $2 AND ref = $3`, [this.now().toISOString(), input.galleryId!, input.subject]);
      }
      return {
        value: answer,
        result: {
          score: decision.score, match: decision.match, fmr, comparedWith, operatingPoint: point.name,
          // Two supplied photographs: both are named in the log (inputHashes holds them too, in order).
          ...(input.reference ? { images: { probe: audit.inputHashes[0], reference: audit.inputHashes[1] } } : {}),
        },
      };
    }, { clearance });
  }

  /**
   * A face against a gallery: the subjects who clear the threshold, with their scores and the
   * false match rate each score stands for, and a plain answer. The threshold is set so that the
   * whole search, not one comparison, keeps to the target false positive identification rate.
   * Only subjects whose enrolment basis covers the purpose at this instant are searched; a search
   * no one clears names no one, unless the purpose's policy allows ranked leads for review.
   * `faces: 'all'` searches every face of the image (up to `maxFacesPerIdentify`), each on its
   * own under the same clearance, purpose filter and review rule, with one audit entry for all.
   */
  identify(caller: Caller, input: IdentifyInput & { faces?: 'one' }): Promise<Extract<IdentifyAnswer, { face: unknown }>>;
  identify(caller: Caller, input: IdentifyInput & { faces: 'all' }): Promise<Extract<IdentifyAnswer, { faces: unknown }>>;
  identify(caller: Caller, input: IdentifyInput): Promise<IdentifyAnswer>;
  identify(caller: Caller, input: IdentifyInput): Promise<IdentifyAnswer> {
    return this.searchFaces(caller, input);
  }

  /** `identify`, its answer's shape decided by `faces` at run time. */
  async searchFaces(caller: Caller, input: IdentifyInput) {
    const all = input.faces === 'all';
    if (input.faces !== undefined && !FACE_SELECTIONS.includes(input.faces)) {
      throw new ProbityError('invalid_request', `faces: must be one of ${FACE_SELECTIONS.join(', ')}, not "${String(input.faces)}"`);
    }
    const audit = { galleryId: input.galleryId, inputHashes: [sha256(input.probe.bytes)] };
    // Cleared once for the request: what the policy forbids, it forbids for every face of the image.
    // One clearance for the request, the gallery it names (owner, declared purpose) and the candidate list it asks for.
    const clearance = await this.gov.clear(caller, 'identify', audit, input, { galleryId: input.galleryId, ...(input.candidateList ? { candidateList: input.candidateList } : {}) });
    const topK = Math.min(input.topK ?? 5, this.options.maxTopK);
    const fpir = input.fpir ?? this.options.identifyFpir;
    const point = await this.operatingPoint(caller, 'identify', audit, clearance, input.operatingPoint);
    requireMeasuredRate(this.calibration(), 'FPIR', fpir);
    const refusal = { ...audit, purpose: input.purpose };
    // A refused callback is an attempt to send a case where it may not go (the operator's own network): logged like any refusal.
    let callbackUrl: string | undefined;
    if (input.callbackUrl) await this.refuseUnless(caller, 'identify', refusal, async () => { callbackUrl = await this.webhooks.acceptCallback(caller, input.callbackUrl!); });
    const g = this.clearedGallery(clearance);
    const rankedLeads = input.candidateList === 'ranked_leads';
    let basis: string[] = [];
    await this.refuseUnless(caller, 'identify', refusal, async () => {
      basis = requireLawfulBasis('basis', input.basis);
      await requireGalleryModel(this.db, g.id, this.engine.templateKind, this.engine.pipelineVersion);
    });
    const frame = all ? await extractFrame(this.engine, input.probe, { minQuality: this.options.probeMinQuality, maxFaces: this.options.maxFacesPerIdentify }) : undefined;
    const probe = frame ? undefined : await extractFace(this.engine, input.probe, { minQuality: this.options.probeMinQuality, choose: 'best' });
    // Who may be compared for this purpose is decided now, at this instant; a lapsed consent is erased before the search.
    const eligibility = await galleryEligibility(this.db, g.id, input.purpose, this.now());
    const erased = await this.people.eraseLapsed(g.id, eligibility.lapsed);
    const state = erased.length ? await this.refreshIndex(g.id) : await this.search.catchUp(g.id, g.version);
    const size = this.search.templateCount(state);
    const limit = identificationThresholdAt(this.calibration(), point.name, fpir, size);
    const notes = [probe?.note].filter((n): n is string => n !== undefined);
    const thresholdNote = identificationNote(limit, size);
    if (thresholdNote) notes.push(thresholdNote);
    const excludedByPurpose = eligibility.excluded.size;
    if (excludedByPurpose > 0) {
      notes.push(`${excludedByPurpose} subject(s) in the gallery were left out: their consent or legal authority does not cover "${input.purpose}" now`);
    }
    // Whether the threshold can keep the search at the target FPIR, in fields a client can act on, not only in a note.
    const search = {
      model: this.engine.modelId, fpir, gallerySize: size, threshold: round(limit.threshold), comparisonFmr: limit.comparisonFmr,
      thresholdBasis: limit.basis, fpirPromised: !limit.beyondCalibration,
    };
    // A consequential purpose releases nothing on a score alone, and "no one" is a result too:
    // every face searched opens a case, whoever clears the threshold (or, where the policy allows
    // ranked leads, the top-k) or no one, so that before review the answer is the same either way.
    // Were "no match" answered at once, a gallery of one would tell its owner, unreviewed, whether
    // the probe is that person. A case with no candidate is closed by a reviewer (review-service.ts).
    // Nothing in the requester's answer below may depend on the scores. Each face is its own case.
    const requiredReviewers = clearance.obligations.includes('require_two_reviewers') ? 2 : 1;
    const consequential = clearance.obligations.includes('require_human_review');
    const reviewRules = clearance.rules.filter((r) => r.effect === 'require_human_review' || r.effect === 'require_two_reviewers').map((r) => r.citation).join('; ');
    const searchFace = async (face: AnalysedFace, template: Template) => {
      const hits = await this.eligibleHits(state, g.id, input.purpose, template.vector, topK, eligibility.excluded);
      const ranked = hits.map((h) => ({ subject: h.subject, ...this.decisionFor(h.score, limit.threshold, point.name) }));
      const matched = ranked.filter((c) => c.match);
      const forReview = rankedLeads ? ranked : matched;
      const review = consequential ? { id: randomUUID(), requiredReviewers } : undefined;
      const probeSealed = review ? await this.reviews.sealProbe(face.aligned, review.id) : undefined;
      return {
        matched, forReview, review, probeSealed,
        outcome: review ? 'review_required' as const : matched.length ? 'candidates' as const : 'no_match' as const,
        summary: review
          ? `the purpose "${clearance.purpose}" is consequential: the search's result, ${rankedLeads ? 'its ranked leads or none' : 'a candidate or none'}, is released only after review (${review.requiredReviewers === 2 ? 'two different reviewers confirm a candidate' : 'a reviewer confirms a candidate'}; ${reviewRules})`
          : matched.length
            ? `${matched.length} subject(s) clear the threshold; they are candidates for a person to check, not an identification`
            : `no one in the gallery clears the threshold (${round(limit.threshold)}); the person is probably not enrolled`,
        // Only those who clear the threshold: a "no match" names no one and shows no score.
        candidates: review ? [] : matched,
        reviewView: review ? { case: review.id, state: 'pending' as const, requiredReviewers: review.requiredReviewers } : { state: 'not_required' as const },
      };
    };
    type Searched = Awaited<ReturnType<typeof searchFace>>;
    const searched: (FrameSearch<Searched['candidates'][number], Searched['reviewView']> & { result?: Searched })[] = [];
    if (frame) {
      for (const f of frame.faces) searched.push(f.template ? { face: f.face, result: await searchFace(f.face, f.template) } : { face: f.face, skipped: f.skipped });
    } else {
      searched.push({ face: probe!.face, result: await searchFace(probe!.face, probe!.template) });
    }
    const results = searched.flatMap((s) => (s.result ? [s.result] : []));
    const common = { gallery: g.id, ...search, operatingPoint: operatingPointReport(this.calibration(), point.name, limit.usedFmr, point.reason, limit) };
    let answer;
    if (frame) {
      const faces = frameAnswer(frame, searched, { minQuality: this.options.probeMinQuality, maxFaces: this.options.maxFacesPerIdentify, fpir, fpirPromised: search.fpirPromised });
      answer = {
        ...common, facesInImage: faces.facesInImage, facesSearched: faces.facesSearched, summary: faces.summary, faces: faces.faces,
        excludedByPurpose, notes: [...notes, ...faces.notes], obligations: clearance.obligations, notice: NOT_SOLE_BASIS,
      };
    } else {
      const r = results[0]!;
      answer = {
        ...common, outcome: r.outcome, summary: r.summary, candidates: r.candidates, excludedByPurpose, review: r.reviewView,
        face: describeFace(probe!), notes, obligations: clearance.obligations, notice: NOT_SOLE_BASIS,
      };
    }
    const reviewCases = results.flatMap((r) => (r.review ? [r.review.id] : []));
    // A search that opened review cases records no count of who cleared the threshold: its audit
    // entry is read by auditors (a requester's key may be one) and copied into disclosures, and
    // the count is the result review has not released yet (sixth outside test, second run). The
    // cases hold the candidates; the reviewers' decisions are their own entries.
    const aboveThreshold = reviewCases.length ? undefined : results.reduce((n, r) => n + r.matched.length, 0);
    return this.gov.run(caller, 'identify', audit, async (tx) => {
      for (const s of searched) {
        const r = s.result;
        if (!r?.review) continue;
        await this.reviews.open(tx, {
          id: r.review.id, caller, galleryId: g.id, purpose: clearance.purpose!, requiredReviewers: r.review.requiredReviewers,
          search: frame ? { ...search, face: { box: s.face.box } } : search, candidates: r.forReview, probeSealed: r.probeSealed!, ...(callbackUrl ? { callbackUrl } : {}),
          ...(clearance.authority ? { authority: clearance.authority } : {}),
        });
      }
      return {
        value: answer,
        result: {
          candidates: results.reduce((n, r) => n + r.candidates.length, 0), ...(aboveThreshold === undefined ? {} : { aboveThreshold }), gallerySize: size, operatingPoint: point.name, released: reviewCases.length === 0,
          thresholdBasis: limit.basis, fpirPromised: !limit.beyondCalibration,
          searched: eligibility.eligible, excludedByPurpose, ...(basis.length ? { basis } : {}),
          ...(erased.length ? { erasedAtSearch: erased.map((r) => r.auditSeq) } : {}),
          ...(rankedLeads ? { candidateList: 'ranked_leads' } : {}),
          ...(frame
            ? {
              faces: 'all', reviewCases,
              frame: frameAudit(frame.facesInImage, searched.map((s) => s.result
                ? { outcome: s.result.outcome, ...(s.result.review ? { reviewCase: s.result.review.id } : { aboveThreshold: s.result.matched.length }), released: s.result.candidates.length }
                : { outcome: s.skipped!, aboveThreshold: 0, released: 0 })),
            }
            : reviewCases.length ? { reviewCase: reviewCases[0] } : {}),
        },
      };
    }, {
      clearance,
      // Each case keeps what cleared its search and the entry that opened it: the Governor checks
      // the clearance again at each decision and at release, and orders reviewers' keys against it.
      finish: async (tx, done) => {
        for (const id of reviewCases) await this.reviews.keepClearance(tx, id, done.auditSeq, clearance);
      },
    });
  }

  /**
   * The best `k` subjects the purpose may reach. `excluded` was read from storage after the index
   * caught up; a subject this process's index gained since (another request's catch-up) was not
   * judged, so when the index moved on, each hit is checked on its own before it counts.
   */
  private async eligibleHits(state: Awaited<ReturnType<GallerySearch['catchUp']>>, galleryId: string, purpose: string, probe: Float32Array, k: number, excluded: Set<string>) {
    const seenAt = state.version;
    for (;;) {
      const hits = await this.search.search(state, probe, k, (h) => this.rescore(h, probe), excluded.size ? (subject) => !excluded.has(subject) : undefined);
      if (state.version === seenAt) return hits;
      let dropped = false;
      for (const h of hits) {
        const c = await subjectCoverage(this.db, galleryId, h.subject, purpose, this.now());
        if (!c?.covered) {
          excluded.add(h.subject);
          dropped = true;
        }
      }
      if (!dropped) return hits;
    }
  }

  /** Never done, for anyone: the request is refused, citing the rule, and the attempt logged. */
  async inferAttributes(caller: Caller): Promise<never> {
    const e = new ProbityError(
      'attribute_inference_refused',
      `Probity never infers race, sex, age or emotion from a face (${NO_ATTRIBUTE_INFERENCE.rule}: ${NO_ATTRIBUTE_INFERENCE.citation})`,
      NO_ATTRIBUTE_INFERENCE,
    );
    await this.gov.recordRefusal(caller, 'infer_attributes', {}, e);
    throw e;
  }

  /** Exact scores for an approximate index's hits, from the stored templates. */
  private async rescore(hits: SearchHit[], probe: Float32Array): Promise<SearchHit[]> {
    if (hits.length === 0) return hits;
    const rows: ({ id: number; uuid: string; sealed: Buffer } & WrappedKeyRow)[] = [];
    for (let i = 0; i < hits.length; i += 500) {
      const batch = hits.slice(i, i + 500);
      rows.push(...(await this.db.all<{ id: number; uuid: string; sealed: Buffer } & WrappedKeyRow>(
        `SELECT t.id, t.uuid, t.sealed, ${KEY_COLUMNS} FROM templates t ${KEY_JOIN} WHERE t.id IN (${batch.map((_, j) => `$${j + 1}`).join(',')})`, batch.map((h) => h.id),
      )));
    }
    const vector = { model: this.engine.modelId, vector: probe };
    return this.keys.session((open) => rows
      .map((r) => ({ id: Number(r.id), score: cosineSimilarity(vector, { model: this.engine.modelId, vector: asFloats(open(r.sealed, r.uuid, r)) }) }))
      .sort((x, y) => y.score - x.score));
  }

  async close(): Promise<void> {
    clearInterval(this.indexTimer);
    await this.search.persist(); // the next start loads these rather than rebuilding them
    this.webhooks.stop();
    await this.expiry.close();
    await Promise.all(this.reviews.deliveries);
    await this.witness?.stop(); // a last checkpoint over everything written
    await this.db.close();
  }
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/**
 * What a request says of liveness: true or false, or the further frames of the capture (as
 * images) to fuse with the face the request is about; frames imply the check.
 */
export type LivenessRequest = boolean | ImageInput[];

function checkLivenessFrames(l: LivenessRequest | undefined): void {
  if (Array.isArray(l) && (l.length < 1 || l.length > MAX_BURST_FRAMES - 1)) {
    throw new ProbityError('invalid_request', `"liveness" holds 1 to ${MAX_BURST_FRAMES - 1} further frames of the same capture, got ${l.length}`);
  }
}
