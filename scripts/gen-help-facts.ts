/** Writes dist/scripts/help-facts.json at build time (see scripts/help-facts.ts). */
import { writeFileSync } from 'node:fs';
import { deriveHelpFacts, HELP_FACTS_FILE } from './help-facts';

writeFileSync(HELP_FACTS_FILE, `${JSON.stringify(deriveHelpFacts())}\n`);
