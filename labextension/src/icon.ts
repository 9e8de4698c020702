import { LabIcon } from '@jupyterlab/ui-components';

// Three steps and their edges: a root, a branch, a join. jp-icon3 follows the theme.
const svgstr = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 16 16">
<g class="jp-icon3" fill="#616161">
<rect x="5.5" y="0.5" width="5" height="4" rx="1"/>
<rect x="0.5" y="11.5" width="5" height="4" rx="1"/>
<rect x="10.5" y="11.5" width="5" height="4" rx="1"/>
<path d="M7.4 4.5h1.2v2.7h4.5v4.3h-1.2V8.4H3.9v3.1H2.7V7.2h4.7z"/>
</g>
</svg>`;

export const flowIcon = new LabIcon({ name: 'nbflow:flow', svgstr });
