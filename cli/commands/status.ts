import { LEGACY_EPOCH } from '../../lambda/keys/legacy';
import { type CommandRegistrar, emit } from '../runtime';

export const registerStatus: CommandRegistrar = (program, run) => {
  program
    .command('status')
    .description('versions, states, primary, key age and days until rotation is due (--rotation-days, default 90)')
    .action(() =>
      run(async (rt) => {
        const s = await rt.manager.status();
        const rows = s.versions.map((v) =>
          [
            String(v.version).padStart(7),
            (v.primary ? '*' : ' ').padEnd(7),
            v.state.padEnd(9),
            v.kdf.padEnd(13),
            // Legacy versions read from the env store (or imported long ago) carry no real date.
            (v.createdAt === LEGACY_EPOCH ? 'unknown' : v.createdAt).padEnd(24),
            (v.createdAt === LEGACY_EPOCH ? '-' : String(v.ageDays)).padStart(8),
            v.reason ?? '',
          ].join('  ').trimEnd(),
        );
        const due = s.rotationOverdue ? `OVERDUE by ${-s.daysUntilRotationDue} days — run 'key-manager rotate'` : `due in ${s.daysUntilRotationDue} days`;
        const managed = s.rotation;
        const managedLines = managed
          ? [
              `secrets manager rotation: ${managed.enabled ? `${managed.schedule ?? 'on demand only'}${managed.window ? `, window ${managed.window}` : ''}` : 'NOT enabled (deploy the stack; it configures the rotation schedule)'}${managed.lastRotated ? `; last ${managed.lastRotated}` : ''}${managed.nextRotation ? `; next ${managed.nextRotation}` : ''}`,
              ...(managed.pending
                ? [`in progress: version ${managed.pending.versionId} is AWSPENDING${managed.pending.since ? ` since ${managed.pending.since}` : ''}${managed.pending.stuck ? ` — STUCK (older than the rotation window); clear it with: ${managed.pending.clear}` : ''}`]
                : []),
              ...(managed.leftoverLabels ?? []).map(
                (left) => `leftover:  version ${left.versionId} still carries ${left.label} (a write could not remove it, or one is in progress now); it keeps that version from expiring — once no write is running, remove it with: ${left.clear}`,
              ),
            ]
          : [];
        const primary = s.versions.find((v) => v.primary);
        emit(rt, s, [
          `store:     ${s.store} ${s.location}`,
          `primary:   version ${s.primary}, ${primary?.createdAt === LEGACY_EPOCH ? 'creation date unknown' : `${s.primaryAgeDays} days old`}`,
          s.readOnly
            ? `rotation:  not applicable: the ${s.store} store is read-only; rotate the key where it is managed, or copy it into a writable store with 'key-manager --store file:PATH import-legacy --from-env' and rotate there`
            : `rotation:  every ${s.rotationPeriodDays} days, ${due}`,
          ...managedLines,
          `capacity:  ${s.capacity.bytes} of ${s.capacity.limitBytes} bytes, room for ${s.capacity.versionsThatFit} more versions`,
          ...(s.prunedVersions.length > 0 ? [`pruned:    destroyed versions ${s.prunedVersions.join(', ')} (entries removed to make room; see the audit log)`] : []),
          '',
          ['version', 'primary', 'state    ', 'kdf          ', 'created                 ', 'age days', 'reason'].join('  '),
          ...rows,
        ]);
      }),
    );
};
