// `node --import …/register.js SCRIPT`: installs the recording hooks before SCRIPT loads.
import { register } from 'node:module';

register(new URL('./hooks.js', import.meta.url));
