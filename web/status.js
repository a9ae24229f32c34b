/* Live page: app.js polls api/status. A page saved with its data replaces
   this file by one that sets window.STREAMFIT_STATUS to the status JSON. */
