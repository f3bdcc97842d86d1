// The console's entry: mount the app and send the user to login whenever the session ends.

import { createApp } from 'vue';
import App from './App.vue';
import { whenUnauthorized } from './api/client.ts';
import { router, toLogin } from './router.ts';
import './style.css';

whenUnauthorized(toLogin);
createApp(App).use(router).mount('#app');
